"""Persisting the event logs of live runs, so a reader on another replica, or after a restart, replays them.

Events are written in batches: every `FLUSH_SECONDS`, the new events of every live log in one
multi-row insert, so a run streaming hundreds of tokens a second, or a thousand quick runs a second,
cost a few writes a second, not one per event or per run. A log stays tracked until it is closed and
stored in full, so an outage delays events but loses none while the process lives (and the last ones
are written at shutdown). A reader in this process never waits for any of this: it follows the log in
memory until it is stored.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import structlog

from clara_runner.clock import utcnow
from clara_runner.errors import DatabaseUnavailable
from clara_runner.service.execution.event_log import RunEventLog
from clara_runner.store import events as event_queries
from clara_runner.store import run_queue
from clara_runner.store.database import Database

FLUSH_SECONDS = 0.1

logger = structlog.get_logger(__name__)


class EventRecorder:
    def __init__(self, database: Database, *, announce: bool = False) -> None:
        self._database = database
        self._announce = announce
        """Queue backend workers: announce each flush's runs to the replicas relaying their events."""
        self.on_stored: Callable[[RunEventLog], None] = lambda _log: None
        """Called when a closed log has been stored in full and is no longer tracked."""
        self._logs: set[RunEventLog] = set()
        self._lock = asyncio.Lock()
        """One flush at a time: two would both write the same unpersisted events."""
        self._next: asyncio.Future[None] | None = None
        """The flush that callers of `flush_soon` wait for, until it starts writing."""
        self._flushing: asyncio.Task[None] | None = None

    async def flush_soon(self) -> None:
        """Return once every log tracked now is stored: callers that arrive while a flush is writing share
        the next one (one write for a thousand acknowledgements, not a thousand writes in a row)."""
        if self._next is None:
            self._next = asyncio.get_running_loop().create_future()
            self._flushing = asyncio.create_task(self._flush_next(self._next), name="run-events-flush")
        await asyncio.shield(self._next)

    async def _flush_next(self, done: asyncio.Future[None]) -> None:
        async with self._lock:
            self._next = None
            try:
                await self._flush_locked()
            except Exception as exc:
                done.set_exception(exc)
            else:
                done.set_result(None)

    def track(self, log: RunEventLog) -> None:
        """Store `log` from now on: called once its run has a stored row (the events refer to it)."""
        self._logs.add(log)

    async def untrack(self, log: RunEventLog) -> bool:
        """Store nothing more of `log` (until it is tracked again); return once no write of it is under way,
        with whether it was tracked."""
        async with self._lock:
            tracked = log in self._logs
            self._logs.discard(log)
        return tracked

    async def flush_all(self) -> None:
        """Write every tracked log's new events; forget the logs that are closed and fully written."""
        async with self._lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        logs = list(self._logs)
        try:
            await self._write(logs)
        except DatabaseUnavailable:
            raise
        except Exception:
            await self._write_one_by_one(logs)
        for log in logs:
            if log.closed and log.persisted == len(log.events):
                self._logs.discard(log)
                self.on_stored(log)

    async def _write_one_by_one(self, logs: list[RunEventLog]) -> None:
        """After a batch was refused: each log alone, so one the database refuses (its run's row gone,
        say) is given up with a log line instead of blocking every other run's events for ever."""
        for log in logs:
            try:
                await self._write([log])
            except DatabaseUnavailable:
                raise
            except Exception:
                logger.exception("run_events_refused", execution_id=str(log.execution_id))
                log.persisted = len(log.events)

    async def _write(self, logs: list[RunEventLog]) -> None:
        counts = [(log, len(log.events)) for log in logs]
        chunks = [
            event_queries.EventChunk(
                log.execution_id,
                [(event.seq, event.name, event.data.decode()) for event in log.events[log.persisted : count]],
            )
            for log, count in counts
            if count > log.persisted
        ]
        if not chunks:
            return
        async with self._database.write() as conn:
            await event_queries.insert_chunks(conn, chunks, utcnow())
            if self._announce:
                await run_queue.announce(conn, [chunk.execution_id for chunk in chunks])
        for log, count in counts:
            log.persisted = count
