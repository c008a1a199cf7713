"""Rows that store tests start from: a deployment, one with a finished run, runs written as the server
writes them."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.clock import utcnow
from clara_runner.store import deployments as deployment_queries
from clara_runner.store.database import Database
from clara_runner.store.executions import insert_execution
from clara_runner.store.records import ExecutionRecord, ExecutionWrite
from clara_runner.store.tables import UNFINISHED
from clara_runner.store.writer import ExecutionWriter
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


def final_run(
    deployment_id: uuid.UUID, created_at: datetime, status: str = "success", duration_ms: int | None = 3, **changes: Any
) -> ExecutionWrite:
    """A snapshot of a run as the execution writer gets it: final unless `status` is queued or running."""
    final = status not in UNFINISHED
    values: dict[str, Any] = {
        "id": uuid.uuid4(),
        "deployment_id": deployment_id,
        "version": 1,
        "api_key_id": None,
        "status": status,
        "inputs_json": "{}",
        "outputs_json": None,
        "error_code": None,
        "error_message": None,
        "duration_ms": duration_ms if final else None,
        "nodes_executed": 1,
        "trace_json": None,
        "created_at": created_at,
        "finished_at": created_at + timedelta(milliseconds=duration_ms or 0) if final else None,
        "owner_id": None,
        **changes,
    }
    return ExecutionWrite(**values)


async def written(database: Database, rows: Sequence[ExecutionWrite]) -> None:
    """Write the snapshots through the execution writer, concurrently (so they share batches), in order."""
    writer = ExecutionWriter(database.execution_batches())
    writer.start()
    try:
        assert all(await asyncio.gather(*(writer.write(row) for row in rows)))
    finally:
        await writer.close(5)
