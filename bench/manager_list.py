"""The Deployment Manager's list at 10,000 deployments: the first page, the last page (by cursor), and a
search, each timed next to its floor on SQLite and PostgreSQL.

    .venv-test/bin/python bench/manager_list.py [--deployments 10000] [--rounds 7]
        [--databases sqlite,postgresql]

A page is what the list route reads: 25 deployments (newest first, keyset cursor) and the usable keys'
prefixes of those 25. The floors read the same rows with the least work the database allows:

* first and last page: the 26 rows themselves, by the same index, in one bare `SELECT ... LIMIT 26`
  (the last page's floor starts at the same position the cursor names);
* search: every name and slug read once, summing their lengths (a substring search must look at each
  of them: the floor is that scan alone).

Each round times every case and its floor one after the other through the same `Database` (the
server's SQLAlchemy engine), so a disturbance of the shared machine hits both; the medians of the
rounds are printed with the ratio and its spread over the rounds. For scale, the last page is also
read the way an offset pager would (`OFFSET 9975`), which is what the cursor avoids.

PostgreSQL uses a fresh database `clara_bench_manager` (dropped at the end) on the server of
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
from datetime import timedelta
from pathlib import Path

from sqlalchemy import and_, func, insert, or_, select

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.scratch import scratch_databases, timed
from clara_runner.clock import utcnow
from clara_runner.service.deployments.browse import PAGE_SIZE, ListingRequest, cursor, list_deployments
from clara_runner.store.database import Database
from clara_runner.store.deployments import LIVE, deployment_from_row
from clara_runner.store.migrate import upgrade
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.tables import api_keys, deployments

BATCH = 1000


@dataclass
class Case:
    name: str
    measured: Callable[[], Awaitable[object]]
    floor: Callable[[], Awaitable[object]]


async def fill(database: Database, total: int) -> None:
    """`total` deployments a second apart, one in ten deleted, each with one key; "Needle" in 1 in 500 names."""
    now = utcnow()
    for first in range(0, total, BATCH):
        rows, keys = [], []
        for number in range(first, min(first + BATCH, total)):
            deployment_id = uuid.uuid4()
            created = now - timedelta(seconds=total - number)
            rows.append(
                {
                    "id": deployment_id,
                    "slug": f"flow-{number}",
                    "name": f"{'Needle' if number % 500 == 0 else 'Flow'} {number}",
                    "state": "deleted" if number % 10 == 0 else LIVE,
                    "current_version": 1,
                    "created_at": created,
                    "updated_at": created,
                }
            )
            keys.append(
                {
                    "id": uuid.uuid4(),
                    "deployment_id": deployment_id,
                    "name": "default",
                    "lookup_id": uuid.uuid4().hex[:16],
                    "key_hash": "0" * 64,
                    "display_prefix": "clara_sk_" + uuid.uuid4().hex[:8],
                    "created_at": created,
                }
            )
        async with database.write() as conn:
            await conn.execute(insert(deployments), rows)
            await conn.execute(insert(api_keys), keys)
    async with database.write() as conn:
        await conn.exec_driver_sql("ANALYZE")


async def bare_page(database: Database, after: DeploymentRecord | None) -> object:
    """The floor of a page: the same 26 live rows by the same index, with nothing else."""
    query = select(deployments).where(deployments.c.state == LIVE)
    if after is not None:
        query = query.where(
            or_(
                deployments.c.created_at < after.created_at,
                and_(deployments.c.created_at == after.created_at, deployments.c.id < after.id),
            )
        )
    query = query.order_by(deployments.c.created_at.desc(), deployments.c.id.desc()).limit(PAGE_SIZE + 1)
    async with database.read() as conn:
        return (await conn.execute(query)).all()


async def offset_page(database: Database, offset: int) -> object:
    query = (
        select(deployments)
        .where(deployments.c.state == LIVE)
        .order_by(deployments.c.created_at.desc(), deployments.c.id.desc())
        .limit(PAGE_SIZE + 1)
        .offset(offset)
    )
    async with database.read() as conn:
        return (await conn.execute(query)).all()


async def read_every_name(database: Database) -> object:
    """The floor of a search: every name and slug read once (what any substring search must look at)."""
    total = func.sum(func.length(deployments.c.name) + func.length(deployments.c.slug))
    async with database.read() as conn:
        return (await conn.execute(select(total))).scalar_one()


def milliseconds(values: list[float]) -> str:
    return f"{statistics.median(values) * 1000:.2f} ms ({min(values) * 1000:.2f}-{max(values) * 1000:.2f})"


async def measure(kind: str, url: str, total: int, rounds: int) -> None:
    upgrade(url)
    database = Database(url)
    try:
        started = time.perf_counter()
        await fill(database, total)
        print(f"\n{kind}: {total:,} deployments filled in {time.perf_counter() - started:.1f} s")
        live = total - total // 10
        async with database.read() as conn:
            query = (
                select(deployments)
                .where(deployments.c.state == LIVE)
                .order_by(deployments.c.created_at.desc(), deployments.c.id.desc())
                .offset(live - PAGE_SIZE - 1)
                .limit(1)
            )
            row = (await conn.execute(query)).mappings().one()
        before_last = deployment_from_row(row)
        last_page = ListingRequest.parse("active", None, cursor(before_last))
        cases = [
            Case(
                "first page",
                lambda: list_deployments(database, ListingRequest.parse("active", None)),
                lambda: bare_page(database, None),
            ),
            Case(
                f"last page (cursor after row {live - PAGE_SIZE - 1:,})",
                lambda: list_deployments(database, last_page),
                lambda: bare_page(database, before_last),
            ),
            Case(
                "search 'needle', every state",
                lambda: list_deployments(database, ListingRequest.parse("all", "needle")),
                lambda: read_every_name(database),
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
                f"  {case.name}: list {milliseconds(measured)}, floor {milliseconds(floor)}, "
                f"ratio {statistics.median(ratios):.1f}x ({ratios[0]:.1f}-{ratios[-1]:.1f})"
            )
        by_offset = [await timed(lambda: offset_page(database, live - PAGE_SIZE)) for _ in range(rounds)]
        print(f"  for scale, the last page by OFFSET {live - PAGE_SIZE:,}: {milliseconds(by_offset)}")
    finally:
        await database.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--deployments", type=int, default=10_000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()
    for kind, url in scratch_databases(args.databases, "manager"):
        asyncio.run(measure(kind, url, args.deployments, args.rounds))


if __name__ == "__main__":
    main()
