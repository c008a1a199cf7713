"""Cost of the sandbox's fresh isolate per evaluation, against reusing one context.

Run: `.venv/bin/python bench/sandbox_isolate.py [--evaluations 200]`

Figures, all the mean latency of `JsSandbox.condition("input > 0", n)`:
* **spare ready**: the evaluation takes a prepared, never-used isolate (the sandbox waits for its spares
  before each evaluation here, as on a server between requests), runs, closes it;
* **back to back**: evaluations follow each other at once, so spares run out and most evaluations
  create their isolate (worker thread), prepare it, run and close it.
The floor evaluates the same expression in one reused mini-racer context: what reusing contexts would
cost at best, and what the sandbox refuses to do because state would leak between runs.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from py_mini_racer import MiniRacer

from clara_runner.flow.sandbox import JsSandbox


async def spare_ready(count: int) -> float:
    sandbox = JsSandbox()
    total = 0.0
    for number in range(count):
        await sandbox.warm()
        started = time.perf_counter()
        assert (await sandbox.condition("input > 0", number + 1)).value is True
        total += time.perf_counter() - started
    await sandbox.aclose()
    return total / count


async def back_to_back(count: int) -> float:
    sandbox = JsSandbox()
    await sandbox.warm()
    started = time.perf_counter()
    for number in range(count):
        assert (await sandbox.condition("input > 0", number + 1)).value is True
    elapsed = time.perf_counter() - started
    await sandbox.aclose()
    return elapsed / count


async def reused(count: int) -> float:
    with MiniRacer() as racer:
        started = time.perf_counter()
        for number in range(count):
            assert await racer.eval_cancelable(f"(function (input) {{ return Boolean(input > 0) }})({number + 1})")
        return (time.perf_counter() - started) / count


async def main(count: int) -> None:
    ready_ms = await spare_ready(count) * 1000
    busy_ms = await back_to_back(count) * 1000
    reused_ms = await reused(count) * 1000
    print(f"{count} if-else expressions, mean latency")
    print(f"fresh isolate, spare ready:   {ready_ms:6.3f} ms  ({ready_ms / reused_ms:5.1f}x the floor)")
    print(f"fresh isolate, back to back:  {busy_ms:6.3f} ms  ({busy_ms / reused_ms:5.1f}x the floor)")
    print(f"floor, one reused context:    {reused_ms:6.3f} ms")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=200)
    asyncio.run(main(parser.parse_args().evaluations))
