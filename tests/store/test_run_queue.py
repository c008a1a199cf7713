"""Queries of the queue backend's runs: the waiting counts a job's priority is made of, a run handed back, and
(PostgreSQL only, as the backend) a claim: one worker becomes the run's owner and gets its request and deployment;
a second claim, or one past the deployment's `maxConcurrency`, gets nothing."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest
from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.clock import utcnow
from clara_runner.store import events as event_queries
from clara_runner.store import run_queue
from clara_runner.store.database import Database
from clara_runner.store.deployments import find_live
from clara_runner.store.tables import api_keys, deployments, execution_events, executions, queued_runs
from tests.store.stored_runs import stored_deployment
from tests.support import on_postgres

on_postgres_only = pytest.mark.skipif(not on_postgres(), reason="the queue backend runs on PostgreSQL only")


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


async def test_a_worker_hands_back_its_own_run_where_the_retry_rules_allow(database: Database) -> None:
    """Default policy: a run that started an outbound call stays the worker's, as does one given to workers
    `max_attempts` times, or another worker's; the one handed back waits again, its events dropped."""
    now = utcnow()
    worker, other_worker = uuid.uuid4(), uuid.uuid4()
    runs = {name: uuid.uuid4() for name in ("unstarted", "outbound", "exhausted", "others")}
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, now)
        for name, execution_id in runs.items():
            await conn.execute(
                insert(executions).values(
                    id=execution_id,
                    deployment_id=deployment_id,
                    version=1,
                    status="running",
                    created_at=now,
                    owner_id=other_worker if name == "others" else worker,
                )
            )
            await conn.execute(
                insert(queued_runs).values(
                    execution_id=execution_id,
                    mode="stream",
                    body=b"{}",
                    job_id=1,
                    attempts=3 if name == "exhausted" else 1,
                    outbound_at=now if name == "outbound" else None,
                    started_version=1,
                    created_at=now,
                )
            )
            await event_queries.insert_chunks(
                conn, [event_queries.EventChunk(execution_id, [(1, "run.started", "{}")])], now
            )

    async with database.write() as conn:
        handed = {name: await run_queue.hand_back(conn, execution_id, worker, 3) for name, execution_id in runs.items()}

    async with database.read() as conn:
        rows = {
            row.id: (row.status, row.owner_id, row.job_id, row.started_version)
            for row in await conn.execute(
                select(
                    executions.c.id,
                    executions.c.status,
                    executions.c.owner_id,
                    queued_runs.c.job_id,
                    queued_runs.c.started_version,
                ).join_from(executions, queued_runs, queued_runs.c.execution_id == executions.c.id)
            )
        }
        logged = set((await conn.execute(select(execution_events.c.execution_id))).scalars())
    assert handed == {"unstarted": True, "outbound": False, "exhausted": False, "others": False}
    assert rows[runs["unstarted"]] == ("queued", None, None, None)
    assert rows[runs["outbound"]] == ("running", worker, 1, 1)
    assert logged == {runs["outbound"], runs["exhausted"], runs["others"]}


async def _queued(database: Database, deployment_id: uuid.UUID, body: bytes = b'{"name": "Ada"}') -> uuid.UUID:
    async with database.write() as conn:
        deployment = await find_live(conn, deployment_id=deployment_id)
        assert deployment is not None
        request = run_queue.QueuedRequest(
            execution_id=uuid.uuid4(),
            deployment=deployment,
            api_key_id=None,
            mode="async",
            body=body,
            content_type="application/json",
            version_header="2",
            callback_url="https://93.184.215.14/done",
        )
        await run_queue.enqueue(conn, request, version=1, job_id=1, now=utcnow())
    return request.execution_id


async def _owner_and_attempts(database: Database, execution_id: uuid.UUID) -> tuple[uuid.UUID | None, int]:
    async with database.read() as conn:
        query = (
            select(executions.c.owner_id, queued_runs.c.attempts)
            .join(queued_runs, queued_runs.c.execution_id == executions.c.id)
            .where(executions.c.id == execution_id)
        )
        owner, attempts = (await conn.execute(query)).one()
    return owner, attempts


@on_postgres_only
async def test_a_run_is_claimed_at_once_and_only_once_with_its_request_and_deployment(database: Database) -> None:
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, utcnow())
    execution_id = await _queued(database, deployment_id)
    first, second = uuid.uuid4(), uuid.uuid4()

    async with database.statement() as conn:
        claimed = await run_queue.claim_at_once(conn, execution_id, first)
    assert isinstance(claimed, run_queue.QueuedRequest)
    assert (claimed.execution_id, claimed.deployment.id, claimed.mode, claimed.body) == (
        execution_id,
        deployment_id,
        "async",
        b'{"name": "Ada"}',
    )
    assert (claimed.content_type, claimed.version_header, claimed.callback_url) == (
        "application/json",
        "2",
        "https://93.184.215.14/done",
    )
    assert await _owner_and_attempts(database, execution_id) == (first, 1)

    async with database.statement() as conn:
        assert await run_queue.claim_at_once(conn, execution_id, second) is None
    async with database.write() as conn:
        assert await run_queue.claim(conn, execution_id, second) is None
    assert await _owner_and_attempts(database, execution_id) == (first, 1)


@on_postgres_only
async def test_a_deployment_at_its_max_concurrency_gets_no_more_claims(database: Database) -> None:
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, utcnow())
        await conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(max_concurrency=1))
    running, waiting = await _queued(database, deployment_id), await _queued(database, deployment_id)
    async with database.statement() as conn:
        assert await run_queue.claim_at_once(conn, running, uuid.uuid4()) is None, "a limited run is counted first"
    assert await _owner_and_attempts(database, running) == (None, 0)

    async with database.write() as conn:
        claimed = await run_queue.claim(conn, running, uuid.uuid4())
    assert isinstance(claimed, run_queue.QueuedRequest)
    assert claimed.deployment.max_concurrency == 1
    async with database.write() as conn:
        assert await run_queue.claim(conn, waiting, uuid.uuid4()) == run_queue.AtLimit(1)
    assert await _owner_and_attempts(database, waiting) == (None, 0)

    async with database.write() as conn:
        await conn.execute(update(executions).where(executions.c.id == running).values(status="success"))
        claimed = await run_queue.claim(conn, waiting, uuid.uuid4())
    assert isinstance(claimed, run_queue.QueuedRequest)
    assert claimed.execution_id == waiting
