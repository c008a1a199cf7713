"""Claiming a queued run: one worker becomes its owner and gets its request and deployment; a second claim,
or a claim past the deployment's `maxConcurrency`, gets nothing. PostgreSQL only, as the queue backend."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select, update

from clara_runner.clock import utcnow
from clara_runner.store import run_queue
from clara_runner.store.database import Database
from clara_runner.store.deployments import find_live
from clara_runner.store.tables import deployments, executions, queued_runs
from tests.store.stored_runs import stored_deployment
from tests.support import on_postgres

pytestmark = pytest.mark.skipif(not on_postgres(), reason="the queue backend runs on PostgreSQL only")


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


async def test_a_run_is_claimed_once_with_its_request_and_deployment(database: Database) -> None:
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, utcnow())
    execution_id = await _queued(database, deployment_id)
    first, second = uuid.uuid4(), uuid.uuid4()

    async with database.write() as conn:
        claimed = await run_queue.claim(conn, execution_id, first)
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

    async with database.write() as conn:
        assert await run_queue.claim(conn, execution_id, second) is None
    assert await _owner_and_attempts(database, execution_id) == (first, 1)


async def test_a_deployment_at_its_max_concurrency_gets_no_more_claims(database: Database) -> None:
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, utcnow())
        await conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(max_concurrency=1))
    running, waiting = await _queued(database, deployment_id), await _queued(database, deployment_id)

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
