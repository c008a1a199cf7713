"""Cost of the sandbox's fresh isolate per evaluation, against reusing one context.

Run: `.venv/bin/python bench/sandbox_isolate.py [--evaluations 200]`

The figure is the mean latency of `JsSandbox.condition("input > 0", n)`: a new V8 isolate created on a
worker thread, hardened, the expression run, the isolate closed. The floor evaluates the same
expression in one reused mini-racer context (what a pool of reused contexts would cost at best, and
what the sandbox refuses to do because state would leak between runs). Both run in the same process.
"""

from __future__ import annotations

import argparse
import asyncio
import time

from py_mini_racer import MiniRacer

from clara_runner.flow.sandbox import JsSandbox


async def fresh(count: int) -> float:
    sandbox = JsSandbox()
    await sandbox.condition("true", None)
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
    fresh_ms = await fresh(count) * 1000
    reused_ms = await reused(count) * 1000
    print(f"{count} sequential if-else expressions")
    print(f"fresh isolate per evaluation: {fresh_ms:6.3f} ms")
    print(f"floor, one reused context:    {reused_ms:6.3f} ms")
    print(f"ratio:                        {fresh_ms / reused_ms:6.1f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=200)
    asyncio.run(main(parser.parse_args().evaluations))
