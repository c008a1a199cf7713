"""Rows that store tests start from: a deployment, and one with a finished run."""

from __future__ import annotations

import uuid
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.clock import utcnow
from clara_runner.store import deployments as deployment_queries
from clara_runner.store.executions import insert_execution
from clara_runner.store.records import ExecutionRecord
from tests.support import HELLO_WORLD


async def stored_deployment(conn: AsyncConnection, now: datetime) -> uuid.UUID:
    """A new deployment of hello-world, created at `now`: its id."""
    deployment_id = uuid.uuid4()
    await deployment_queries.insert_deployment(
        conn,
        deployment_id=deployment_id,
        slug=f"hello-{deployment_id.hex[:8]}",
        name="Hello",
        description=None,
        user_id=None,
        workflow=HELLO_WORLD,
        contract={},
        now=now,
    )
    return deployment_id


async def stored_run(conn: AsyncConnection) -> tuple[uuid.UUID, uuid.UUID]:
    """A new deployment and a successful run of it: (deployment id, execution id)."""
    now = utcnow()
    deployment_id, execution_id = await stored_deployment(conn, now), uuid.uuid4()
    await insert_execution(
        conn,
        ExecutionRecord(
            id=execution_id,
            deployment_id=deployment_id,
            version=1,
            api_key_id=None,
            status="success",
            inputs={},
            outputs={"greeting": "Ada"},
            error_code=None,
            error_message=None,
            duration_ms=3,
            nodes_executed=2,
            trace=None,
            created_at=now,
            finished_at=now,
        ),
    )
    return deployment_id, execution_id
