"""Queries on execution records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.records import ExecutionRecord
from clara_runner.store.tables import executions


async def insert_execution(conn: AsyncConnection, record: ExecutionRecord) -> None:
    await conn.execute(
        insert(executions).values(
            id=record.id,
            deployment_id=record.deployment_id,
            version=record.version,
            api_key_id=record.api_key_id,
            status=record.status,
            inputs=record.inputs,
            outputs=record.outputs,
            error_code=record.error_code,
            error_message=record.error_message,
            duration_ms=record.duration_ms,
            nodes_executed=record.nodes_executed,
            trace=record.trace,
            created_at=record.created_at,
            finished_at=record.finished_at,
        )
    )


async def list_for_deployment(
    conn: AsyncConnection, deployment_id: uuid.UUID, *, limit: int, offset: int, status: str | None
) -> Sequence[ExecutionRecord]:
    query = select(executions).where(executions.c.deployment_id == deployment_id)
    if status is not None:
        query = query.where(executions.c.status == status)
    query = query.order_by(executions.c.created_at.desc(), executions.c.id).limit(limit).offset(offset)
    return [_execution(row) for row in (await conn.execute(query)).mappings()]


def _execution(row: Any) -> ExecutionRecord:
    return ExecutionRecord(**{name: row[name] for name in ExecutionRecord.__slots__})
