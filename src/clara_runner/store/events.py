"""Queries on the event logs of runs (`execution_events`: chunks of events, see `tables.execution_events`)."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

import orjson
from sqlalchemy import bindparam, func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import UTCDateTime, execution_events, executions

StoredEvent = tuple[int, str, str]
"""One event as stored: its sequence number, name and data (the JSON text sent)."""


@dataclass(frozen=True, slots=True)
class EventChunk:
    execution_id: uuid.UUID
    events: Sequence[StoredEvent]


_CREATED_AT = bindparam("created_at", type_=UTCDateTime)
_INSERTS = {
    "sqlite": text(
        "INSERT INTO execution_events (execution_id, seq, last_seq, events, created_at) "
        "SELECT json_extract(value, '$[0]'), json_extract(value, '$[1]'), json_extract(value, '$[2]'), "
        "json_extract(value, '$[3]'), :created_at FROM json_each(:chunks)"
    ).bindparams(_CREATED_AT),
    "postgresql": text(
        "INSERT INTO execution_events (execution_id, seq, last_seq, events, created_at) "
        "SELECT CAST(c ->> 0 AS uuid), CAST(c ->> 1 AS int), CAST(c ->> 2 AS int), c ->> 3, :created_at "
        "FROM json_array_elements(CAST(:chunks AS json)) AS c"
    ).bindparams(_CREATED_AT),
}
"""The chunks of a flush travel as one JSON parameter unpacked by the database: a thousand quick runs'
logs cost one parameter encoded in C, not a thousand rows of parameters processed in Python."""


async def insert_chunks(conn: AsyncConnection, chunks: Sequence[EventChunk], created_at: datetime) -> None:
    """One insert: a row per run, holding the events it logged since the last flush."""
    dialect = conn.dialect.name
    batch = [
        (
            chunk.execution_id.hex if dialect == "sqlite" else chunk.execution_id,
            chunk.events[0][0],
            chunk.events[-1][0],
            encode_chunk(chunk.events),
        )
        for chunk in chunks
    ]
    await conn.execute(_INSERTS[dialect], {"chunks": orjson.dumps(batch).decode(), "created_at": created_at})


async def events_after(conn: AsyncConnection, execution_id: uuid.UUID, after: int, limit: int) -> list[StoredEvent]:
    """The stored events numbered above `after`, in order, from at most `limit` chunks."""
    query = (
        select(execution_events.c.events)
        .where(execution_events.c.execution_id == execution_id, execution_events.c.last_seq > after)
        .order_by(execution_events.c.seq)
        .limit(limit)
    )
    found: list[StoredEvent] = []
    for (chunk,) in await conn.execute(query):
        found.extend(events_in(chunk, after))
    return found


def events_in(chunk: str, after: int) -> list[StoredEvent]:
    """The events of a stored chunk (or sealed log) numbered above `after`."""
    return [(seq, name, data) for seq, name, data in orjson.loads(chunk) if seq > after]


def encode_chunk(events: Sequence[StoredEvent]) -> str:
    return orjson.dumps(events).decode()


async def sealed_log(conn: AsyncConnection, execution_id: uuid.UUID) -> str | None:
    """The whole log a run carries in its row (`tables.executions.event_log`), if it has one."""
    query = select(executions.c.event_log).where(executions.c.id == execution_id)
    found: str | None = (await conn.execute(query)).scalar_one_or_none()
    return found


async def has_events(conn: AsyncConnection, execution_id: uuid.UUID) -> bool:
    query = select(execution_events.c.seq).where(execution_events.c.execution_id == execution_id).limit(1)
    return (await conn.execute(query)).first() is not None


async def last_seq(conn: AsyncConnection, execution_id: uuid.UUID) -> int:
    """The number of the run's last stored event (0 when none is stored)."""
    query = select(func.max(execution_events.c.last_seq)).where(execution_events.c.execution_id == execution_id)
    return int((await conn.execute(query)).scalar_one() or 0)
