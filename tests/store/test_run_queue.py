"""Queries of the queue backend's runs: the waiting counts a job's priority is made of."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy import insert
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.clock import utcnow
from clara_runner.store import run_queue
from clara_runner.store.database import Database
from clara_runner.store.tables import api_keys, executions
from tests.store.stored_runs import stored_deployment


async def stored_key(conn: AsyncConnection, deployment_id: uuid.UUID, now: datetime) -> uuid.UUID:
    key_id = uuid.uuid4()
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            deployment_id=deployment_id,
            name="k",
            lookup_id=key_id.hex[:16],
            key_hash=key_id.hex * 2,
            display_prefix="clara_sk_x",
            created_at=now,
        )
    )
    return key_id


async def stored_runs(
    conn: AsyncConnection,
    deployment_id: uuid.UUID,
    key_id: uuid.UUID | None,
    count: int,
    now: datetime,
    status: str = "queued",
    owner_id: uuid.UUID | None = None,
) -> None:
    for _ in range(count):
        await conn.execute(
            insert(executions).values(
                id=uuid.uuid4(),
                deployment_id=deployment_id,
                version=1,
                api_key_id=key_id,
                status=status,
                created_at=now,
                owner_id=owner_id,
            )
        )


async def test_waiting_counts_the_deployments_runs_and_the_flows_among_them(database: Database) -> None:
    """Runs held by a worker, running or final are not waiting; runs without a key are one flow."""
    now = utcnow()
    async with database.write() as conn:
        deployment_id, other_deployment = await stored_deployment(conn, now), await stored_deployment(conn, now)
        busy, quiet = await stored_key(conn, deployment_id, now), await stored_key(conn, deployment_id, now)
        await stored_runs(conn, deployment_id, busy, 5, now)
        await stored_runs(conn, deployment_id, quiet, 1, now)
        await stored_runs(conn, deployment_id, None, 2, now)
        await stored_runs(conn, deployment_id, busy, 1, now, owner_id=uuid.uuid4())
        await stored_runs(conn, deployment_id, busy, 1, now, status="running", owner_id=uuid.uuid4())
        await stored_runs(conn, deployment_id, busy, 1, now, status="success")
        await stored_runs(conn, other_deployment, None, 4, now)

    async with database.read() as conn:
        counts = {
            name: await run_queue.waiting(conn, deployment_id, key)
            for name, key in (("busy", busy), ("quiet", quiet), ("admin", None), ("new", uuid.uuid4()))
        }
    assert counts == {
        "busy": run_queue.Waiting(deployment=8, flow=5),
        "quiet": run_queue.Waiting(deployment=8, flow=1),
        "admin": run_queue.Waiting(deployment=8, flow=2),
        "new": run_queue.Waiting(deployment=8, flow=0),
    }
