"""Queries on the event logs of runs (`execution_events`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import execution_events

_INSERT = insert(execution_events)


@dataclass(frozen=True, slots=True)
class EventRow:
    execution_id: uuid.UUID
    seq: int
    event: str
    data: str
    created_at: datetime


async def insert_events(conn: AsyncConnection, rows: Sequence[EventRow]) -> None:
    """One multi-row insert for the events of every run flushed together."""
    await conn.execute(
        _INSERT,
        [
            {
                "execution_id": row.execution_id,
                "seq": row.seq,
                "event": row.event,
                "data": row.data,
                "created_at": row.created_at,
            }
            for row in rows
        ],
    )


async def events_after(conn: AsyncConnection, execution_id: uuid.UUID, after: int, limit: int) -> list[EventRow]:
    query = (
        select(execution_events)
        .where(execution_events.c.execution_id == execution_id, execution_events.c.seq > after)
        .order_by(execution_events.c.seq)
        .limit(limit)
    )
    return [EventRow(**row) for row in (await conn.execute(query)).mappings()]


async def has_events(conn: AsyncConnection, execution_id: uuid.UUID) -> bool:
    query = select(execution_events.c.seq).where(execution_events.c.execution_id == execution_id).limit(1)
    return (await conn.execute(query)).first() is not None
