"""The floor of the queue backend's benchmarks: bare procrastinate, with none of the project's code.

    python -m bench.procrastinate_floor worker URL CONCURRENCY

runs a procrastinate worker (LISTEN/NOTIFY on, jobs deleted when done) for two tasks: `noop` does
nothing, `timed` records how long after its `sent` timestamp it started (`clara_bench_latency`, through
the worker's own pool). `defer(url, task, count)` queues jobs one by one, each in a transaction of its
own, as the runner's web replicas do.
"""

from __future__ import annotations

import asyncio
import sys
import time

import procrastinate
import psycopg

QUEUE = "bench_floor"


def make_app(url: str) -> procrastinate.App:
    app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=url, min_size=1, max_size=3))

    @app.task(name="noop", queue=QUEUE)
    async def noop() -> None:
        return None

    @app.task(name="timed", queue=QUEUE)
    async def timed(sent: float) -> None:
        started = time.time()
        await app.connector.execute_query_async(
            "INSERT INTO clara_bench_latency (ms) VALUES (%(ms)s)", ms=(started - sent) * 1000
        )

    return app


async def prepare(url: str) -> None:
    async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
        await conn.execute("CREATE TABLE IF NOT EXISTS clara_bench_latency (ms double precision)")
        await conn.execute("TRUNCATE clara_bench_latency")


async def defer(url: str, task_name: str, count: int, pause: float = 0.0) -> None:
    app = make_app(url)
    async with app.open_async():
        task = app.tasks[task_name]
        for _ in range(count):
            if task_name == "timed":
                await task.defer_async(sent=time.time())
            else:
                await task.defer_async()
            if pause:
                await asyncio.sleep(pause)


async def work(url: str, concurrency: int) -> None:
    app = make_app(url)
    async with app.open_async():
        await app.run_worker_async(queues=[QUEUE], concurrency=concurrency, delete_jobs="always")


if __name__ == "__main__":
    asyncio.run(work(sys.argv[2], int(sys.argv[3])))
