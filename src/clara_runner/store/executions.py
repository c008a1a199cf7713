"""Queries on execution records."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.records import ExecutionRecord
from clara_runner.store.tables import UNFINISHED, executions

_INSERT = insert(executions)
"""Built once: executed with a parameter dict, the compiled form is reused from SQLAlchemy's cache
instead of building fourteen bind parameters per request (the execute path's only write)."""


async def insert_execution(conn: AsyncConnection, record: ExecutionRecord) -> None:
    await conn.execute(_INSERT, {name: getattr(record, name) for name in _COLUMNS})


async def list_for_deployment(
    conn: AsyncConnection, deployment_id: uuid.UUID, *, limit: int, offset: int, status: str | None
) -> Sequence[ExecutionRecord]:
    query = select(*_RECORD_COLUMNS).where(executions.c.deployment_id == deployment_id)
    if status is not None:
        query = query.where(executions.c.status == status)
    query = query.order_by(executions.c.created_at.desc(), executions.c.id).limit(limit).offset(offset)
    return [_execution(row) for row in (await conn.execute(query)).mappings()]


_COLUMNS: tuple[str, ...] = ExecutionRecord.__slots__
_RECORD_COLUMNS = [executions.c[name] for name in _COLUMNS]
"""What a record reads: not the sealed event log, which only the events endpoint reads (`events.sealed_log`)."""


def _execution(row: Any) -> ExecutionRecord:
    return ExecutionRecord(**{name: row[name] for name in _COLUMNS})


async def find(conn: AsyncConnection, execution_id: uuid.UUID) -> ExecutionRecord | None:
    row = (await conn.execute(select(*_RECORD_COLUMNS).where(executions.c.id == execution_id))).mappings().first()
    return None if row is None else _execution(row)


async def request_cancel(conn: AsyncConnection, execution_id: uuid.UUID, now: datetime, reason: str) -> bool:
    """Ask the process that owns the run to cancel it for `reason`; False if the run is no longer queued or
    running."""
    result = await conn.execute(
        update(executions)
        .where(executions.c.id == execution_id, executions.c.status.in_(UNFINISHED))
        .values(cancel_requested_at=now, cancel_reason=reason)
    )
    return bool(result.rowcount)


async def cancels_requested(conn: AsyncConnection, owner_id: uuid.UUID) -> list[tuple[uuid.UUID, str | None]]:
    """The unfinished runs of this owner that a cancel asked to stop, with its reason (None: asked by a
    version that gave none); the partial index on unfinished runs by owner finds them."""
    query = select(executions.c.id, executions.c.cancel_reason).where(
        executions.c.owner_id == owner_id,
        executions.c.status.in_(UNFINISHED),
        executions.c.cancel_requested_at.is_not(None),
    )
    return [(row.id, row.cancel_reason) for row in await conn.execute(query)]
