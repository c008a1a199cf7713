"""Queries on the event logs of runs (`execution_events`: chunks of events, see `tables.execution_events`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import execution_events

_INSERT = insert(execution_events)

StoredEvent = tuple[int, str, str]
"""One event as stored: its sequence number, name and data (the JSON text sent)."""


@dataclass(frozen=True, slots=True)
class EventChunk:
    execution_id: uuid.UUID
    events: Sequence[StoredEvent]
    created_at: datetime


async def insert_chunks(conn: AsyncConnection, chunks: Sequence[EventChunk]) -> None:
    """One multi-row insert: a row per run, holding the events it logged since the last flush."""
    await conn.execute(
        _INSERT,
        [
            {
                "execution_id": chunk.execution_id,
                "seq": chunk.events[0][0],
                "last_seq": chunk.events[-1][0],
                "events": orjson.dumps(chunk.events).decode(),
                "created_at": chunk.created_at,
            }
            for chunk in chunks
        ],
    )


async def events_after(conn: AsyncConnection, execution_id: uuid.UUID, after: int, limit: int) -> list[StoredEvent]:
    """The stored events numbered above `after`, in order, from at most `limit` chunks."""
    query = (
        select(execution_events.c.events)
        .where(execution_events.c.execution_id == execution_id, execution_events.c.last_seq > after)
        .order_by(execution_events.c.seq)
        .limit(limit)
    )
    found: list[StoredEvent] = []
    for (text,) in await conn.execute(query):
        found.extend((seq, name, data) for seq, name, data in orjson.loads(text) if seq > after)
    return found


async def has_events(conn: AsyncConnection, execution_id: uuid.UUID) -> bool:
    query = select(execution_events.c.seq).where(execution_events.c.execution_id == execution_id).limit(1)
    return (await conn.execute(query)).first() is not None
