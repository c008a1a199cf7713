"""Statistics roll-ups stay equal to a recount of the rows: after mixed traffic through the execution
writer (quick runs, runs written running then final, final snapshots sent twice, failures, tokens,
mismatches), after the orphan sweep, and after the migration's back-fill of rows stored before it."""

from __future__ import annotations

import random
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from alembic import command
from sqlalchemy import insert, select, text

from clara_runner.clock import utcnow
from clara_runner.store import leases, run_queue
from clara_runner.store.database import Database
from clara_runner.store.histogram import BUCKET_SQL, GROWTH, bucket_of
from clara_runner.store.migrate import alembic_config, upgrade
from clara_runner.store.records import ExecutionWrite
from clara_runner.store.rollups import roll_up
from clara_runner.store.tables import UNFINISHED, deployments, execution_rollups, executions
from tests.store.stored_runs import final_run, stored_deployment, written
from tests.support import on_postgres

START = datetime(2026, 12, 1, 9, 0, tzinfo=UTC)
FINAL = ("success", "success", "success", "error", "timeout", "cancelled")

Tally = set[tuple[Any, ...]]


async def stored_rollups(database: Database) -> Tally:
    async with database.read() as conn:
        rows = (await conn.execute(select(execution_rollups))).all()
    return {
        (
            row.deployment_id,
            row.hour,
            row.status,
            row.runs,
            row.output_mismatches,
            row.prompt_tokens,
            row.completion_tokens,
            frozenset((int(bucket), runs) for bucket, runs in row.durations.items()),
        )
        for row in rows
    }


async def recounted(database: Database) -> Tally:
    """The roll-ups computed afresh from the final rows stored."""
    async with database.read() as conn:
        rows = (await conn.execute(select(executions).where(executions.c.status.not_in(UNFINISHED)))).all()
    return {
        (
            rollup.deployment_id,
            rollup.hour,
            rollup.status,
            rollup.runs,
            rollup.output_mismatches,
            rollup.prompt_tokens,
            rollup.completion_tokens,
            frozenset(rollup.durations.items()),
        )
        for rollup in roll_up(rows)
    }


def _traffic(generator: random.Random, deployment_ids: list[uuid.UUID], count: int) -> list[ExecutionWrite]:
    """Final snapshots over five hours: every final status, durations from 0 ms to a minute (some without
    one, as a row stored without its payload), mismatches, token counts from some runs only."""
    rows = []
    for _ in range(count):
        tokens = generator.random() < 0.3
        rows.append(
            final_run(
                generator.choice(deployment_ids),
                START + timedelta(seconds=generator.randrange(5 * 3600)),
                generator.choice(FINAL),
                None if generator.random() < 0.05 else int(generator.expovariate(1 / 800)) % 60_000,
                first=True,
                output_mismatch=generator.random() < 0.1,
                prompt_tokens=generator.randrange(1, 500) if tokens else None,
                completion_tokens=generator.randrange(1, 500) if tokens else None,
            )
        )
    return rows


def _finished(row: ExecutionWrite, generator: random.Random) -> ExecutionWrite:
    """The final snapshot of a run written `running` before."""
    status = generator.choice(FINAL)
    return final_run(row.deployment_id, row.created_at, status, generator.randrange(5000), id=row.id)


async def test_rollups_equal_a_recount_of_the_rows_after_mixed_traffic_and_a_sweep(database: Database) -> None:
    generator = random.Random(13)
    dead_lease = uuid.uuid4()
    async with database.write() as conn:
        ids = [await stored_deployment(conn, START) for _ in range(3)]
        now = utcnow()
        await leases.register(conn, dead_lease, kind="server", host="h", pid=1, now=now, expires_at=now)

    quick = _traffic(generator, ids, 300)
    running = [
        final_run(row.deployment_id, row.created_at, "running", first=True) for row in _traffic(generator, ids, 40)
    ]
    orphans = [
        final_run(row.deployment_id, row.created_at, "running", first=True, owner_id=dead_lease, prompt_tokens=7)
        for row in _traffic(generator, ids, 12)
    ]
    await written(database, quick[:150] + running + orphans)
    finished = [_finished(row, generator) for row in running]
    again = [final_run(row.deployment_id, row.created_at, "error", 1, id=row.id) for row in finished[:10]]
    await written(database, quick[150:] + finished[:20])
    await written(database, finished[20:] + again)
    async with database.write() as conn:
        swept = await leases.interrupt_orphans(conn, utcnow(), "process_lost", "gone", uuid.uuid4())
    assert sorted(swept) == sorted(row.id for row in orphans)

    rollups = await stored_rollups(database)
    assert rollups == await recounted(database)
    assert sum(rollup[3] for rollup in rollups) == len(quick) + len(running) + len(orphans)
    assert {rollup[2] for rollup in rollups} == {*FINAL, "interrupted"}
    async with database.read() as conn:
        counters = (await conn.execute(select(deployments.c.execution_count))).scalars().all()
    assert sum(counters) == sum(rollup[3] for rollup in rollups)


@pytest.mark.skipif(not on_postgres(), reason="the queue backend (waiting runs) is PostgreSQL only")
async def test_a_run_cancelled_while_waiting_for_a_worker_is_rolled_up(database: Database) -> None:
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, START)
    waiting = final_run(deployment_id, START, "queued", first=True, owner_id=None)
    await written(database, [waiting])
    async with database.write() as conn:
        assert await run_queue.cancel_waiting(conn, waiting.id, "run_cancelled", "cancelled", utcnow())

    rollups = await stored_rollups(database)
    assert [(rollup[2], rollup[3]) for rollup in rollups] == [("cancelled", 1)]
    assert rollups == await recounted(database)


async def test_a_run_still_running_is_in_no_rollup(database: Database) -> None:
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, START)
    await written(database, [final_run(deployment_id, START, "running", first=True)])
    assert await stored_rollups(database) == set()


async def test_the_migration_rolls_up_the_runs_stored_before_it(database: Database, database_url: str) -> None:
    generator = random.Random(15)
    async with database.write() as conn:
        ids = [await stored_deployment(conn, START) for _ in range(2)]
    command.downgrade(alembic_config(database_url), "0014_queue")
    try:
        async with database.write() as conn:
            rows = [*_traffic(generator, ids, 200), final_run(ids[0], START, "running")]
            await conn.execute(insert(executions), [_stored(row) for row in rows])
    finally:
        await database.close()
        upgrade(database_url)
    rollups = await stored_rollups(database)
    assert sum(rollup[3] for rollup in rollups) == 200
    assert rollups == await recounted(database)


def _stored(row: ExecutionWrite) -> dict[str, Any]:
    """The row as stored, written without the writer (as before the migration)."""
    names = ("id", "deployment_id", "version", "status", "duration_ms", "created_at", "finished_at")
    extra = ("output_mismatch", "prompt_tokens", "completion_tokens")
    return {name: getattr(row, name) for name in (*names, *extra)}


async def test_the_postgresql_writer_buckets_durations_as_python_does(database: Database) -> None:
    """Checked where a float error could tell them apart: every whole millisecond beside a bucket bound."""
    if database.url.get_backend_name() != "postgresql":
        pytest.skip("the bucket is computed in SQL by the PostgreSQL writer only")
    bounds = {int(GROWTH**power) + step for power in range(1100) for step in (-1, 0, 1, 2)}
    values = sorted(value for value in bounds if 0 <= value < 2**31)
    query = text(f"SELECT d, {BUCKET_SQL.format(d='d')} AS bucket FROM unnest(CAST(:values AS int[])) AS d")  # noqa: S608
    async with database.read() as conn:
        found = {value: bucket for value, bucket in await conn.execute(query, {"values": values})}
    assert found == {value: bucket_of(value) for value in values}
