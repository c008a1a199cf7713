"""The queue backend next to its floors: bare procrastinate on the same database, and the in-process backend.

    .venv-test/bin/python bench/queue_backend.py [--database postgresql://postgres@127.0.0.1:5432/clara_h12_bench]
        [--latency-runs 200] [--throughput-runs 400] [--sync-requests 300] [--concurrency 10]

Three measurements, each printed with its floor and the ratio:

1. **Enqueue-to-start with idle workers**: async hello-world runs (`input -> output`) sent one at a time
   to `clara-runner serve` (EXECUTION_BACKEND=queue) with one idle `clara-runner worker`, each waited for
   before the next; the time from the run's `queued` row (`created_at`, stamped by the web replica before
   its transaction) to its first node's start on the worker (`startedAt` in its trace). Floor: bare
   procrastinate, a job deferred with its send time and a worker task recording when it started
   (`bench/procrastinate_floor.py`), one at a time. Target: p50 <= 25 ms.
2. **No-op run throughput with 1, 2 and 3 workers**: with the workers idle, `--throughput-runs` async
   hello-world runs sent at once (20 connections), timed from the first request to the last run final;
   next to the same number of bare procrastinate no-op jobs deferred by 20 concurrent deferrers (each job
   in its own transaction) to as many bare workers of the same concurrency, timed to the last job done.
   Target: >= 0.75x.
3. **Sync hello-world, queue backend vs in-process**: `--sync-requests` requests one after the other to a
   queue-backend replica (one worker) and to an in-process server on the same database; p50 and p99 and
   the ratio of the medians (reported, no target).

Every process runs on this machine with PostgreSQL; the figures compare within one run only.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import subprocess
import sys
import tempfile
import time
from contextlib import ExitStack
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
import psycopg

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.e2e.queue_cluster import LiveWorker, queue_env
from tests.support import HELLO_WORLD, LiveServer, bearer, server_env

from bench import procrastinate_floor
from clara_runner.store.migrate import upgrade


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def line(name: str, figure: float, floor: float, unit: str, higher_is_better: bool, target: str) -> None:
    ratio = figure / floor if higher_is_better else floor / figure
    print(f"{name}: {figure:.2f} {unit} | floor {floor:.2f} {unit} | ratio {ratio:.2f} | target {target}")


async def sql(url: str, query: str, *params: Any) -> list[tuple[Any, ...]]:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        cursor = await conn.execute(query, params)
        return await cursor.fetchall() if cursor.description else []


async def empty(url: str) -> None:
    await sql(url, "TRUNCATE executions, deployments, procrastinate_jobs CASCADE")


async def deploy(http: httpx.AsyncClient, server: LiveServer) -> dict[str, Any]:
    response = await http.post(f"{server.base_url}/api/deploy", json={"name": "Hello", "workflow": HELLO_WORLD})
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


async def execute(http: httpx.AsyncClient, server: LiveServer, deployment: dict[str, Any], mode: str) -> None:
    response = await http.post(
        f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
        params={"mode": mode},
        json={"name": "Ada"},
        headers=bearer(deployment["apiKey"]),
    )
    assert response.status_code in (200, 202), response.text


async def until(url: str, query: str, done: Any, *params: Any) -> None:
    """Poll `query` (a count) until `done(count)`."""
    while True:
        if done((await sql(url, query, *params))[0][0]):
            return
        await asyncio.sleep(0.01)


async def settled(url: str, count: int) -> None:
    final = "SELECT count(*) FROM executions WHERE status NOT IN ('queued', 'running')"
    await until(url, final, lambda found: found >= count)


async def runner_latency(url: str, env: dict[str, str], runs: int) -> list[float]:
    await empty(url)
    with LiveServer(env) as web, LiveWorker(env, 4):
        async with httpx.AsyncClient(timeout=60) as http:
            deployment = await deploy(http, web)
            for index in range(runs):
                await execute(http, web, deployment, "async")
                await settled(url, index + 1)
    rows = await sql(url, "SELECT created_at, trace FROM executions")
    return [
        (datetime.fromisoformat(trace[0]["startedAt"].replace("Z", "+00:00")) - created).total_seconds() * 1000
        for created, trace in rows
    ]


async def floor_latency(url: str, runs: int) -> list[float]:
    await procrastinate_floor.prepare(url)
    with ExitStack() as stack:
        stack.enter_context(floor_workers(url, 1, 4))
        await asyncio.sleep(2)
        for _ in range(runs):
            await procrastinate_floor.defer(url, "timed", 1)
            await asyncio.sleep(0.02)
        await until(url, "SELECT count(*) FROM clara_bench_latency", lambda found: found >= runs)
    return [row[0] for row in await sql(url, "SELECT ms FROM clara_bench_latency")]


class floor_workers:
    """Bare procrastinate worker processes, for a `with` block."""

    def __init__(self, url: str, count: int, concurrency: int) -> None:
        command = [sys.executable, "-m", "bench.procrastinate_floor", "worker", url, str(concurrency)]
        root = Path(__file__).resolve().parent.parent
        self.processes = [subprocess.Popen(command, cwd=root) for _ in range(count)]

    def __enter__(self) -> floor_workers:
        return self

    def __exit__(self, *_: object) -> None:
        for process in self.processes:
            process.terminate()
        for process in self.processes:
            process.wait(timeout=30)


async def backlog_drained(url: str, queue: str, runs: int) -> float:
    """Runs per second at which the workers empty a backlog of `runs` jobs on `queue`: timed from the first
    job gone (taken and done) to the last, by polling the queue's job count every few milliseconds."""
    remaining = "SELECT count(*) FROM procrastinate_jobs WHERE queue_name = %s"
    await until(url, remaining, lambda found: found < runs, queue)
    began = time.monotonic()
    await until(url, remaining, lambda found: found == 0, queue)
    return (runs - 1) / (time.monotonic() - began)


async def runner_throughput(
    url: str, env: dict[str, str], runs: int, workers: int, concurrency: int
) -> tuple[float, float]:
    """(submit rate, drain rate): `runs` async runs queued through one web replica with no worker running,
    then `workers` workers started together to drain them."""
    await empty(url)
    with ExitStack() as stack:
        web = stack.enter_context(LiveServer(env))
        async with httpx.AsyncClient(timeout=120, limits=httpx.Limits(max_connections=20)) as http:
            deployment = await deploy(http, web)
            began = time.monotonic()
            await asyncio.gather(*(execute(http, web, deployment, "async") for _ in range(runs)))
            submitted = runs / (time.monotonic() - began)
        starting = [asyncio.to_thread(LiveWorker, env, concurrency) for _ in range(workers)]
        draining = asyncio.create_task(backlog_drained(url, "runs", runs))
        for worker in await asyncio.gather(*starting):
            stack.enter_context(worker)
        drained = await draining
        await settled(url, runs)
        return submitted, drained


async def floor_throughput(url: str, runs: int, workers: int, concurrency: int) -> tuple[float, float]:
    """(defer rate, drain rate) of bare procrastinate: `runs` no-op jobs deferred by 20 concurrent deferrers
    (each job in its own transaction) with no worker running, then `workers` bare workers draining them."""
    await sql(url, "DELETE FROM procrastinate_jobs WHERE queue_name = %s", procrastinate_floor.QUEUE)
    began = time.monotonic()
    share, rest = divmod(runs, 20)
    await asyncio.gather(*(procrastinate_floor.defer(url, "noop", share + (index < rest)) for index in range(20)))
    deferred = runs / (time.monotonic() - began)
    draining = asyncio.create_task(backlog_drained(url, procrastinate_floor.QUEUE, runs))
    with floor_workers(url, workers, concurrency):
        drained = await draining
    return deferred, drained


async def sync_latency(server: LiveServer, requests: int) -> list[float]:
    async with httpx.AsyncClient(timeout=60) as http:
        deployment = await deploy(http, server)
        for _ in range(10):
            await execute(http, server, deployment, "sync")
        times = []
        for _ in range(requests):
            began = time.perf_counter()
            await execute(http, server, deployment, "sync")
            times.append((time.perf_counter() - began) * 1000)
    return times


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database", default="postgresql://postgres@127.0.0.1:5432/clara_h12_bench")
    parser.add_argument("--latency-runs", type=int, default=200)
    parser.add_argument("--throughput-runs", type=int, default=400)
    parser.add_argument("--sync-requests", type=int, default=300)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--parts", default="1,2,3", help="which measurements to make, by number")
    args = parser.parse_args()
    url = args.database
    upgrade(url)
    data = Path(tempfile.mkdtemp(prefix="clara-queue-bench-"))
    base = server_env(url, data, RATE_LIMIT_ENABLED="false", QUEUE_MAX_DEPTH="100000")
    env = queue_env(base)
    if not (await sql(url, "SELECT to_regclass('procrastinate_jobs') IS NOT NULL"))[0][0]:
        floor_app = procrastinate_floor.make_app(url)
        async with floor_app.open_async():
            await floor_app.schema_manager.apply_schema_async()

    parts = {int(part) for part in args.parts.split(",")}
    if 1 in parts:
        await enqueue_to_start(url, env, args.latency_runs)
    if 2 in parts:
        await throughput(url, env, args.throughput_runs, args.concurrency)
    if 3 in parts:
        await sync_on_queue(url, env, base, args.sync_requests, args.concurrency)


async def enqueue_to_start(url: str, env: dict[str, str], runs: int) -> None:
    print("1. enqueue-to-start with idle workers (ms)")
    runner = await runner_latency(url, env, runs)
    floor = await floor_latency(url, runs)
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        line(f"   {name}", percentile(runner, fraction), percentile(floor, fraction), "ms", False, "p50 <= 25 ms")


async def throughput(url: str, env: dict[str, str], runs: int, concurrency: int) -> None:
    print(f"2. no-op run throughput, {runs} runs, concurrency {concurrency} per worker (runs/s)")
    for workers in (1, 2, 3):
        submitted, drained = await runner_throughput(url, env, runs, workers, concurrency)
        deferred, floor_drained = await floor_throughput(url, runs, workers, concurrency)
        line(f"   drained by {workers} worker(s)", drained, floor_drained, "runs/s", True, ">= 0.75")
        line(f"   queued through one web replica ({workers})", submitted, deferred, "runs/s", True, "reported")


async def sync_on_queue(url: str, env: dict[str, str], base: dict[str, str], requests: int, concurrency: int) -> None:
    print(f"3. sync hello-world, {requests} requests one after the other (ms)")
    await empty(url)
    with LiveServer(env) as queued, LiveWorker(env, concurrency), LiveServer(base) as inprocess:
        on_queue = await sync_latency(queued, requests)
        in_process = await sync_latency(inprocess, requests)
    for name, fraction in (("p50", 0.5), ("p99", 0.99)):
        line(f"   {name}", percentile(on_queue, fraction), percentile(in_process, fraction), "ms", False, "reported")
    print(f"   mean: queue {statistics.mean(on_queue):.2f} ms, in-process {statistics.mean(in_process):.2f} ms")


if __name__ == "__main__":
    asyncio.run(main())
