"""Event chunks: a flush's chunks stored by one insert and read back exactly as they were sent live."""

from __future__ import annotations

import uuid

from sqlalchemy import select

from clara_runner.clock import utcnow
from clara_runner.store import events as queries
from clara_runner.store.database import Database
from clara_runner.store.tables import execution_events
from tests.store.stored_runs import stored_run

AWKWARD = '{"delta":"caf\u00e9 \u0000 "quoted" \\ back\nslash","nodeId":"llm-1"}'
"""Data as sent live: escapes a database could rewrite (a NUL, unicode, quotes, backslashes)."""


async def test_chunks_of_several_runs_are_stored_by_one_flush_and_replayed_byte_for_byte(database: Database) -> None:
    async with database.write() as conn:
        runs = [(await stored_run(conn))[1] for _ in range(3)]
    first = [(1, "run.started", '{"executionId":"x","version":1}'), (2, "llm.token", AWKWARD)]
    later = [(3, "llm.token", '{"delta":"été 😀"}'), (4, "run.finished", '{"success":true}')]

    async with database.write() as conn:
        await queries.insert_chunks(conn, [queries.EventChunk(run, first) for run in runs], utcnow())
    async with database.write() as conn:
        await queries.insert_chunks(conn, [queries.EventChunk(runs[0], later)], utcnow())

    async with database.read() as conn:
        assert await queries.events_after(conn, runs[0], 0, 10) == first + later
        assert await queries.events_after(conn, runs[0], 2, 10) == later
        assert await queries.events_after(conn, runs[1], 1, 10) == first[1:]
        assert await queries.has_events(conn, runs[2])
        assert not await queries.has_events(conn, uuid.uuid4())
        ranges = (
            await conn.execute(
                select(execution_events.c.seq, execution_events.c.last_seq)
                .where(execution_events.c.execution_id == runs[0])
                .order_by(execution_events.c.seq)
            )
        ).all()
    assert [tuple(row) for row in ranges] == [(1, 2), (3, 4)]
