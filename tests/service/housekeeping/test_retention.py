"""Execution retention and the housekeeping task that runs it."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI
from sqlalchemy import Table, func, select, update

from clara_runner.clock import utcnow
from clara_runner.server.app import create_app
from clara_runner.service.housekeeping.housekeeper import Housekeeper
from clara_runner.service.housekeeping.retention import ExecutionRetention
from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.tables import execution_events, executions
from tests.apps import runtime_of, serving
from tests.store.stored_runs import final_run, stored_deployment, written
from tests.store.test_rollups import recounted, stored_rollups
from tests.support import bearer, deploy, make_settings


async def _executed(client: httpx2.AsyncClient, count: int) -> dict[str, Any]:
    deployment = await deploy(client)
    for index in range(count):
        response = await client.post(
            f"/api/workflows/{deployment['slug']}/execute",
            json={"name": f"caller {index}"},
            headers=bearer(deployment["apiKey"]),
        )
        assert response.status_code == 200
    return deployment


async def _age_all(database: Database, days: float) -> None:
    async with database.write() as conn:
        await conn.execute(update(executions).values(created_at=utcnow() - timedelta(days=days)))


async def _inputs_left(database: Database) -> list[str]:
    async with database.read() as conn:
        rows = await conn.execute(select(executions.c.inputs).order_by(executions.c.created_at))
    return [row.inputs["name"] for row in rows]


async def test_executions_older_than_the_retention_period_are_deleted(app: FastAPI, client: httpx2.AsyncClient) -> None:
    database = runtime_of(app).database
    await _executed(client, 3)
    await _age_all(database, 31)
    await _executed(client, 1)
    assert await ExecutionRetention(database, days=30).prune() == 3
    assert await _inputs_left(database) == ["caller 0"]
    assert await ExecutionRetention(database, days=30).prune() == 0


async def test_a_runs_event_log_is_deleted_with_the_run(app: FastAPI, client: httpx2.AsyncClient) -> None:
    database = runtime_of(app).database
    deployment = await deploy(client)
    accepted = await client.post(
        f"/api/workflows/{deployment['slug']}/execute?mode=async",
        json={"name": "a"},
        headers=bearer(deployment["apiKey"]),
    )
    assert accepted.status_code == 202
    events_url = accepted.json()["eventsUrl"].removeprefix("http://localhost")
    async with client.stream("GET", events_url, headers=bearer(deployment["apiKey"])) as stream:
        body = (await stream.aread()).decode()
    assert "event: run.finished" in body
    await runtime_of(app).event_recorder.flush_all()
    assert await _logs(database) > 0

    await _age_all(database, 31)
    assert await ExecutionRetention(database, days=30).prune() == 1
    assert await _logs(database) == 0


async def _logs(database: Database) -> int:
    """Stored event logs: chunks of runs acknowledged while going on, and the logs sealed in the rows of runs
    that ended before they were acknowledged."""
    async with database.read() as conn:
        sealed = await conn.scalar(select(func.count()).where(executions.c.event_log.is_not(None)))
    return await _count(database, execution_events) + int(sealed or 0)


async def _count(database: Database, table: Table) -> int:
    async with database.read() as conn:
        count: int = (await conn.execute(select(func.count()).select_from(table))).scalar_one()
    return count


async def test_zero_days_keeps_executions_forever(app: FastAPI, client: httpx2.AsyncClient) -> None:
    database = runtime_of(app).database
    await _executed(client, 2)
    await _age_all(database, 3650)
    assert await ExecutionRetention(database, days=0).prune() == 0
    assert len(await _inputs_left(database)) == 2


async def test_deletion_runs_in_batches_until_nothing_matches(app: FastAPI, client: httpx2.AsyncClient) -> None:
    database = runtime_of(app).database
    await _executed(client, 7)
    removed = await delete_in_batches(database, executions, executions.c.created_at < utcnow(), batch_size=3)
    assert removed == 7
    async with database.read() as conn:
        assert (await conn.execute(select(func.count()).select_from(executions))).scalar_one() == 0


async def test_housekeeping_runs_every_job_even_when_one_fails() -> None:
    calls: list[str] = []

    async def broken() -> int:
        calls.append("broken")
        raise RuntimeError("disk on fire")

    async def working() -> int:
        calls.append("working")
        return 2

    removed = await Housekeeper([("broken", broken), ("working", working)]).run_once()
    assert removed == {"working": 2}
    assert calls == ["broken", "working"]


async def test_the_server_prunes_old_executions_in_the_background(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, EXECUTION_RETENTION_DAYS=1, HOUSEKEEPING_INTERVAL_SECONDS=0.05)
    app = create_app(settings)
    async with serving(app) as client:
        database = runtime_of(app).database
        await _executed(client, 2)
        await _age_all(database, 2)
        await _executed(client, 1)
        for _ in range(400):
            if len(await _inputs_left(database)) == 1:
                break
            await asyncio.sleep(0.025)
        assert await _inputs_left(database) == ["caller 0"]


async def test_the_statistics_rollups_of_pruned_hours_go_with_their_runs(database_url: str) -> None:
    database = Database(database_url)
    try:
        now = utcnow()
        async with database.write() as conn:
            deployment_id = await stored_deployment(conn, now)
        old, recent = now - timedelta(days=31), now - timedelta(days=1)
        rows = [final_run(deployment_id, moment, first=True) for moment in (old, old - timedelta(hours=5), recent)]
        await written(database, rows)
        assert len(await stored_rollups(database)) == 3
        assert await ExecutionRetention(database, days=30).prune() == 2
        rollups = await stored_rollups(database)
        assert [rollup[1] for rollup in rollups] == [recent.replace(minute=0, second=0, microsecond=0)]
        assert rollups == await recounted(database)
    finally:
        await database.close()
