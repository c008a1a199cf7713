"""Persisting the event logs of live runs, so a reader on another replica, or after a restart, replays them.

Events are written in batches: every `FLUSH_SECONDS`, the new events of every live log in one
multi-row insert, so a run streaming hundreds of tokens a second costs a few writes a second, not one
per token. At the end of a run its log is flushed at once (`finish`); until that has succeeded the log
stays tracked and the periodic flush retries it, so an outage delays events but loses none while the
process lives. A live reader in this process never waits for any of this: it follows the log in memory.
"""

from __future__ import annotations

import asyncio

from clara_runner.clock import utcnow
from clara_runner.service.execution.event_log import RunEventLog
from clara_runner.store import events as event_queries
from clara_runner.store.database import Database

FLUSH_SECONDS = 0.1


class EventRecorder:
    def __init__(self, database: Database) -> None:
        self._database = database
        self._logs: set[RunEventLog] = set()
        self._lock = asyncio.Lock()
        """One flush at a time: two would both write the same unpersisted events."""

    def track(self, log: RunEventLog) -> None:
        self._logs.add(log)

    async def flush_all(self) -> None:
        """Write every tracked log's new events; forget the logs that are closed and fully written."""
        async with self._lock:
            logs = list(self._logs)
            await self._write(logs)
            for log in logs:
                if log.closed and log.persisted == len(log.events):
                    self._logs.discard(log)

    async def flush(self, log: RunEventLog) -> None:
        """Write `log`'s new events now (the run is waiting for them to be durable)."""
        async with self._lock:
            await self._write([log])
            if log.closed and log.persisted == len(log.events):
                self._logs.discard(log)

    async def _write(self, logs: list[RunEventLog]) -> None:
        now = utcnow()
        counts = [(log, len(log.events)) for log in logs]
        rows = [
            event_queries.EventRow(log.execution_id, event.seq, event.name, event.data.decode(), now)
            for log, count in counts
            for event in log.events[log.persisted : count]
        ]
        if not rows:
            return
        async with self._database.write() as conn:
            await event_queries.insert_events(conn, rows)
        for log, count in counts:
            log.persisted = count
