"""Waking the requests of this replica that wait on runs executed by workers (the queue backend).

Workers announce every change a relay waits for (started, replied, new events stored, interrupted by a
sweep) on PostgreSQL's LISTEN/NOTIFY channel (`store/run_queue.py`), and this process's one LISTEN
connection (`store/job_queue.RunChanges`) passes the run ids here. A waiter is woken and reads the state
it waits for from the database; it also reads it every `fallback_seconds` in case a notification was
missed (the LISTEN connection was being reopened), so a missed one costs latency, never a lost answer.

LISTEN/NOTIFY was chosen over Redis pub/sub by measurement (`bench/relay_channel.py`, figures in
bench/README.md): on the same machine its publish-to-receive latency is of the same order, it needs no
service besides PostgreSQL, and a notification sent in the transaction that stores a change cannot
arrive before the change is visible.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Iterable, Iterator
from contextlib import contextmanager, suppress


class RunRelay:
    def __init__(self, fallback_seconds: float = 1.0) -> None:
        self.fallback_seconds = fallback_seconds
        self._watchers: dict[uuid.UUID, set[asyncio.Event]] = {}

    def changed(self, execution_ids: Iterable[uuid.UUID]) -> None:
        """Wake everyone waiting on these runs (called by the LISTEN connection's task)."""
        for execution_id in execution_ids:
            for event in self._watchers.get(execution_id, ()):
                event.set()

    @contextmanager
    def watch(self, execution_id: uuid.UUID) -> Iterator[asyncio.Event]:
        """An event set whenever the run changes, for the duration of the block."""
        event = asyncio.Event()
        self._watchers.setdefault(execution_id, set()).add(event)
        try:
            yield event
        finally:
            watchers = self._watchers.get(execution_id)
            if watchers is not None:
                watchers.discard(event)
                if not watchers:
                    del self._watchers[execution_id]

    async def next_change(self, event: asyncio.Event, seconds: float | None = None) -> None:
        """Return when `event` is set or after `seconds` (`fallback_seconds` by default), and clear it."""
        with suppress(TimeoutError):
            async with asyncio.timeout(self.fallback_seconds if seconds is None else seconds):
                await event.wait()
        event.clear()
