"""The event loop stays free while a huge legal body is processed: `/health` latency during the work.

    .venv-test/bin/python bench/loop_responsiveness.py [--values 1600000] [--rounds 3]

One server (`clara-runner`'s app under uvicorn, one worker, SQLite) and a workflow that takes a JSON
input and returns it. Each round sends a body of `--values` short strings (about 8 MB, under
`MAX_INPUT_SIZE`), which the server parses, validates, redacts, runs, encodes and records (seconds of
CPU), and meanwhile asks `/health` over and over on another connection. The figure is `/health`'s
latency while the bulk request is in flight; the floor is the same `/health` on the same idle server,
measured in the same run. Target (the isolation issue): under 100 ms. A first round warms the process up
(its first large body grows the heap and starts the worker threads) and is printed but not counted.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx2
import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.execute_throughput import quiet_sqlite_runner

BULK_FLOW = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Data", "inputType": "json"}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Data"}},
    ],
    "connections": [{"source": "in", "target": "out"}],
}


async def health_latencies(http: httpx2.AsyncClient, url: str, until: asyncio.Future[Any]) -> list[float]:
    """Milliseconds of each `/health` asked back to back until `until` is done."""
    latencies = []
    while not until.done():
        started = time.perf_counter()
        response = await http.get(url)
        assert response.status_code == 200, response.text
        latencies.append((time.perf_counter() - started) * 1000)
    return latencies


async def measure(base: str, key: str, body_file: Path) -> tuple[list[float], list[float], float]:
    """(/health latencies idle, /health latencies during the bulk request, the bulk request's seconds).

    The bulk request is sent by `curl` in its own process, so that nothing of it slows this process's
    event loop, which only asks `/health`."""
    async with httpx2.AsyncClient(timeout=60) as probe:
        idle_done: asyncio.Future[object] = asyncio.get_running_loop().create_future()
        asyncio.get_running_loop().call_later(1.0, idle_done.set_result, None)
        idle = await health_latencies(probe, f"{base}/health", idle_done)
        started = time.perf_counter()
        curl = await asyncio.create_subprocess_exec(
            *("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST"),
            *("-H", f"Authorization: Bearer {key}", "-H", "Content-Type: application/json"),
            *("--data-binary", f"@{body_file}", f"{base}/api/workflows/bulk/execute"),
            stdout=asyncio.subprocess.PIPE,
        )
        finished = asyncio.ensure_future(curl.communicate())
        busy = await health_latencies(probe, f"{base}/health", finished)
        status = (await finished)[0].decode()
        assert status == "200", status
        return idle, busy, time.perf_counter() - started


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--values", type=int, default=1_600_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder, quiet_sqlite_runner(folder) as (_, base):
        deployed = httpx2.post(f"{base}/api/deploy", json={"name": "Bulk", "workflow": BULK_FLOW}).json()
        key = deployed["deployment"]["apiKey"]
        body_file = Path(folder) / "bulk.json"
        body_file.write_bytes(orjson.dumps({"data": ["ab"] * args.values}))
        print(f"/health latency in ms, idle (floor) and while a body of {args.values:,} values is processed")
        print(
            f"{'round':<6} {'idle p50':>9} {'idle p99':>9} {'busy p50':>9} {'busy p99':>9} {'busy max':>9} "
            f"{'asked':>6} {'bulk s':>7}"
        )
        idle_p99s, busy_p99s, busy_maxes = [], [], []
        for round_number in range(args.rounds + 1):
            idle, busy, seconds = asyncio.run(measure(base, key, body_file))
            label = "warm" if round_number == 0 else str(round_number)
            print(
                f"{label:<6} {statistics.median(idle):>9.1f} {percentile(idle, 0.99):>9.1f} "
                f"{statistics.median(busy):>9.1f} {percentile(busy, 0.99):>9.1f} {max(busy):>9.1f} "
                f"{len(busy):>6} {seconds:>7.2f}"
            )
            if round_number:
                idle_p99s.append(percentile(idle, 0.99))
                busy_p99s.append(percentile(busy, 0.99))
                busy_maxes.append(max(busy))
        idle_p99, busy_p99 = statistics.median(idle_p99s), statistics.median(busy_p99s)
        print(
            f"busy p99 {busy_p99:.1f} ms (rounds {min(busy_p99s):.1f}-{max(busy_p99s):.1f}), idle p99 "
            f"{idle_p99:.1f} ms, ratio {busy_p99 / idle_p99:.1f}; worst single /health {max(busy_maxes):.1f} ms "
            "(target under 100 ms; the warm-up round, the process's first large body, is not counted)"
        )


if __name__ == "__main__":
    main()
