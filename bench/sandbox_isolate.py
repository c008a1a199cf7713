"""Cost of the sandbox's fresh isolate per evaluation, in worker processes and in the server's own process,
against reusing one context.

Run: `.venv-test/bin/python bench/sandbox_isolate.py [--evaluations 200] [--runs 3]`

Figures, all the mean latency of one `if-else` expression (`input > 0`) over `--evaluations`:
* **workers** (`JsSandbox.condition`, what the server does): the script goes to a sandbox worker process
  over its socket, runs in the worker's prepared isolate, which is closed, and the result comes back;
  - **spare ready**: the benchmark waits for the spare workers before each evaluation, as a server has
    them between requests (the worker has its next isolate ready);
  - **back to back**: evaluations follow each other at once, so a worker is often still preparing its
    next isolate and the evaluation waits for it;
* **in-process** (the sandbox before worker processes, for the ratio): the same isolate code
  (`sandbox_worker.Isolate` and `evaluate`) in the benchmark's own process, no process hop;
  - **spare ready**: the isolate is prepared before the clock starts; evaluate, close;
  - **back to back**: prepare, evaluate and close one isolate per evaluation;
* **floor**: the same expression in one reused mini-racer context: what reusing contexts would cost at
  best, and what the sandbox refuses to do because state would leak between runs.
Each figure is measured `--runs` times (all of them in each run, in turn); the median is printed with
the range, and the workers' cost as a multiple of the in-process one.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable
from typing import Any

from py_mini_racer import MiniRacer

from clara_runner.flow.sandbox import JsSandbox
from clara_runner.flow.sandbox_driver import condition_script
from clara_runner.flow.sandbox_worker import Isolate, evaluate

MEMORY_BYTES = JsSandbox().limits.memory_bytes


async def workers_spare_ready(count: int) -> float:
    sandbox = JsSandbox()
    total = 0.0
    for number in range(count):
        await sandbox.warm()
        started = time.perf_counter()
        assert (await sandbox.condition("input > 0", number + 1)).value is True
        total += time.perf_counter() - started
    await sandbox.aclose()
    return total / count


async def workers_back_to_back(count: int) -> float:
    sandbox = JsSandbox()
    await sandbox.warm()
    started = time.perf_counter()
    for number in range(count):
        assert (await sandbox.condition("input > 0", number + 1)).value is True
    elapsed = time.perf_counter() - started
    await sandbox.aclose()
    return elapsed / count


async def _evaluate_in_process(isolate: Isolate, number: int) -> None:
    async def no_fetch(request: dict[str, Any]) -> None:
        raise AssertionError(f"an expression made a fetch request: {request}")

    try:
        ending = await evaluate(isolate.racer, condition_script("input > 0", number), no_fetch, asyncio.Queue())
    finally:
        isolate.close()
    assert ending["outcome"]["value"] is True


async def in_process_spare_ready(count: int) -> float:
    total = 0.0
    for number in range(count):
        isolate = await Isolate.prepared(MEMORY_BYTES)
        started = time.perf_counter()
        await _evaluate_in_process(isolate, number + 1)
        total += time.perf_counter() - started
    return total / count


async def in_process_back_to_back(count: int) -> float:
    started = time.perf_counter()
    for number in range(count):
        await _evaluate_in_process(await Isolate.prepared(MEMORY_BYTES), number + 1)
    return (time.perf_counter() - started) / count


async def reused(count: int) -> float:
    with MiniRacer() as racer:
        started = time.perf_counter()
        for number in range(count):
            assert await racer.eval_cancelable(f"(function (input) {{ return Boolean(input > 0) }})({number + 1})")
        return (time.perf_counter() - started) / count


FIGURES: dict[str, Callable[[int], Awaitable[float]]] = {
    "workers, spare ready": workers_spare_ready,
    "workers, back to back": workers_back_to_back,
    "in-process, spare ready": in_process_spare_ready,
    "in-process, back to back": in_process_back_to_back,
    "floor, one reused context": reused,
}


async def main(count: int, runs: int) -> None:
    measured: dict[str, list[float]] = {name: [] for name in FIGURES}
    for _ in range(runs):
        for name, figure in FIGURES.items():
            measured[name].append(await figure(count) * 1000)
    median = {name: statistics.median(values) for name, values in measured.items()}
    floor = median["floor, one reused context"]
    print(f"{count} if-else expressions per run, {runs} runs: median of the mean latency (range)")
    for name, values in measured.items():
        line = f"{name + ':':27} {median[name]:6.3f} ms  ({min(values):6.3f} - {max(values):6.3f})"
        if name != "floor, one reused context":
            line += f"  {median[name] / floor:5.1f}x the floor"
        print(line)
    for situation in ("spare ready", "back to back"):
        ratio = median[f"workers, {situation}"] / median[f"in-process, {situation}"]
        print(f"workers / in-process, {situation}: {ratio:4.2f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--evaluations", type=int, default=200)
    parser.add_argument("--runs", type=int, default=3)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.evaluations, arguments.runs))
