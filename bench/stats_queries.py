"""Statistics at a million executions: a deployment's stats and a deployment list's summaries, timed next
to the floor of the same rows (a bare `count(*)` over the same index range), on SQLite and PostgreSQL.

    .venv-test/bin/python bench/stats_queries.py [--executions 1000000] [--rounds 5]
        [--databases sqlite,postgresql]

The statistics read the hourly roll-ups of the range (`store/rollups.py`) and the runs of the hours it
cuts; the floor counts every run of the range, so a ratio under 1 means the statistics cost less than
counting the rows they describe.

The database is filled in SQL (a recursive CTE on SQLite, `generate_series` on PostgreSQL), its
statistics roll-ups built from the rows as migration 0015 builds them (the server keeps them as it writes
runs), then analysed (and vacuumed on PostgreSQL, so index-only scans apply): 100 deployments, one "busy" with 90 %
of the executions, the others sharing the rest, all spread evenly over the last 30 days (about 1 in 20
an error, 1 in 97 a timeout, 1 in 50 with mismatched outputs, durations from 1 to 3,000 ms). Each
round times, one after the other, every query and its floor through the same `Database` (the server's
SQLAlchemy engine), so a disturbance of the shared machine hits both; the medians of the rounds are
printed with the ratio and its spread over the rounds.

PostgreSQL uses a fresh database `clara_bench_stats` (dropped at the end) on the server of
`BENCH_POSTGRES_URL` (default: the local `postgres` database).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path

import psycopg
from sqlalchemy import func, select, text

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_databases, timed
from clara_runner.clock import utcnow
from clara_runner.service.stats.report import SUMMARY_SPAN, StatsService
from clara_runner.service.stats.window import StatsWindow
from clara_runner.store import deployments as deployment_queries
from clara_runner.store import rollups
from clara_runner.store.database import Database
from clara_runner.store.migrate import upgrade
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.tables import executions

DEPLOYMENTS = 100
SPAN_SECONDS = 30 * 86400
BUSY_SHARE = 0.9

_COLUMNS = "id, deployment_id, version, status, duration_ms, nodes_executed, created_at, finished_at, output_mismatch"
_STATUS = "CASE WHEN n % 20 = 0 THEN 'error' WHEN n % 97 = 0 THEN 'timeout' ELSE 'success' END"
_DURATION = "(CAST(n AS BIGINT) * 7919) % 3000 + 1"
_MISMATCH = "n % 50 = 0"
SQLITE_FILL = f"""
WITH RECURSIVE c(n) AS (SELECT 0 UNION ALL SELECT n + 1 FROM c WHERE n < :count - 1)
INSERT INTO executions ({_COLUMNS})
SELECT lower(hex(randomblob(16))), :deployment, 1, {_STATUS}, {_DURATION}, 2, stamp, stamp, {_MISMATCH}
FROM (SELECT n, strftime('%Y-%m-%d %H:%M:%S', :end - n * :step, 'unixepoch') || '.000000' AS stamp FROM c)
"""  # noqa: S608 (constants only)
POSTGRES_FILL = f"""
INSERT INTO executions ({_COLUMNS})
SELECT gen_random_uuid(), CAST(:deployment AS uuid), 1, {_STATUS}, {_DURATION}, 2, stamp, stamp, {_MISMATCH}
FROM (SELECT n, to_timestamp(:end - n * :step) AS stamp FROM generate_series(0, :count - 1) AS n) AS rows
"""  # noqa: S608 (constants only)


@dataclass
class Case:
    name: str
    rows: int
    measured: Callable[[], Awaitable[object]]
    floor: Callable[[], Awaitable[object]]


async def fill(database: Database, total: int) -> list[DeploymentRecord]:
    now = utcnow()
    ids = [uuid.uuid4() for _ in range(DEPLOYMENTS)]
    busy = int(total * BUSY_SHARE)
    shares = [busy] + [(total - busy) // (DEPLOYMENTS - 1)] * (DEPLOYMENTS - 1)
    async with database.write() as conn:
        sqlite = conn.dialect.name == "sqlite"
        for index, (deployment_id, count) in enumerate(zip(ids, shares, strict=True)):
            await deployment_queries.insert_deployment(
                conn,
                deployment_id=deployment_id,
                slug=f"bench-{index}",
                name=f"Bench {index}",
                description=None,
                user_id=None,
                workflow={},
                contract={},
                now=now,
            )
            values = {
                "count": count,
                "deployment": deployment_id.hex if sqlite else str(deployment_id),
                "end": now.timestamp(),
                "step": SPAN_SECONDS / count,
            }
            await conn.execute(text(SQLITE_FILL if sqlite else POSTGRES_FILL), values)
    started = time.perf_counter()
    async with database.write() as conn:
        await conn.run_sync(rollups.back_fill)
    print(f"  roll-ups of the runs built in {time.perf_counter() - started:.1f} s (as migration 0015 builds them)")
    if sqlite:
        async with database.write() as conn:
            await conn.exec_driver_sql("ANALYZE")
    else:
        conninfo = database.url.set(drivername="postgresql").render_as_string(hide_password=False)
        with psycopg.connect(conninfo, autocommit=True) as admin:
            admin.execute("VACUUM ANALYZE executions")
            admin.execute("VACUUM ANALYZE execution_rollups")
    async with database.read() as conn:
        records = [await deployment_queries.find_live(conn, deployment_id=deployment_id) for deployment_id in ids]
    return [record for record in records if record is not None]


async def count_rows(database: Database, deployment_ids: list[uuid.UUID], start: datetime, end: datetime) -> int:
    """The floor: how many rows the statistics read, counted by the same index range."""
    async with database.read() as conn:
        query = select(func.count()).where(
            executions.c.deployment_id.in_(deployment_ids),
            executions.c.created_at >= start,
            executions.c.created_at < end,
        )
        return int((await conn.execute(query)).scalar_one())


async def measure(kind: str, url: str, total: int, rounds: int) -> None:
    upgrade(url)
    database = Database(url)
    try:
        started = time.perf_counter()
        deployments = await fill(database, total)
        print(f"\n{kind}: {total:,} executions filled in {time.perf_counter() - started:.1f} s")
        service = StatsService(database)
        busy = deployments[0]
        now = utcnow()
        month = StatsWindow(now - timedelta(days=30), now, "day")
        day = StatsWindow(now - timedelta(hours=24), now, "hour")
        every = [record.id for record in deployments]
        cases = [
            Case(
                "stats, busy deployment, 30 days by day",
                await count_rows(database, [busy.id], month.start, month.end),
                lambda: service.for_deployment(busy, month),
                lambda: count_rows(database, [busy.id], month.start, month.end),
            ),
            Case(
                "stats, busy deployment, 24 h by hour",
                await count_rows(database, [busy.id], day.start, day.end),
                lambda: service.for_deployment(busy, day),
                lambda: count_rows(database, [busy.id], day.start, day.end),
            ),
            Case(
                "list summaries, 100 deployments, 24 h",
                await count_rows(database, every, now - SUMMARY_SPAN, now),
                lambda: service.summaries(deployments, now),
                lambda: count_rows(database, every, now - SUMMARY_SPAN, now),
            ),
        ]
        for case in cases:
            await case.measured()
            await case.floor()
            measured, floor = [], []
            for _ in range(rounds):
                measured.append(await timed(case.measured))
                floor.append(await timed(case.floor))
            ratios = sorted(m / f for m, f in zip(measured, floor, strict=True))
            print(
                f"  {case.name}: {case.rows:,} rows; stats {statistics.median(measured) * 1000:.0f} ms "
                f"({min(measured) * 1000:.0f}-{max(measured) * 1000:.0f}), floor (count) "
                f"{statistics.median(floor) * 1000:.0f} ms ({min(floor) * 1000:.0f}-{max(floor) * 1000:.0f}), "
                f"ratio {statistics.median(ratios):.1f}x ({ratios[0]:.1f}-{ratios[-1]:.1f})"
            )
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--executions", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind, url in scratch_databases(args.databases, "stats"):
        asyncio.run(measure(kind, url, args.executions, args.rounds))


if __name__ == "__main__":
    main()
