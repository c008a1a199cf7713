"""Execution counters and key last-use times, written in batches instead of once per request.

The execute path does exactly one database write (its execution row). Counters are accumulated in
memory and flushed every second and at shutdown; a crash loses at most that second of counter
updates, never an execution record.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from datetime import datetime

import structlog

from clara_runner.store import deployments as deployment_queries
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Database

log = structlog.get_logger(__name__)


class UsageRecorder:
    def __init__(self, database: Database, interval_seconds: float = 1.0) -> None:
        self._database = database
        self._interval = interval_seconds
        self._counts: dict[uuid.UUID, tuple[int, datetime]] = {}
        self._keys: dict[uuid.UUID, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def record(self, deployment_id: uuid.UUID, key_id: uuid.UUID | None, at: datetime) -> None:
        count, _ = self._counts.get(deployment_id, (0, at))
        self._counts[deployment_id] = (count + 1, at)
        if key_id is not None:
            self._keys[key_id] = at

    def pending(self, deployment_id: uuid.UUID) -> tuple[int, datetime | None]:
        """Executions recorded here but not yet flushed, and the time of the latest."""
        count, last = self._counts.get(deployment_id, (0, None))
        return count, last

    async def flush(self) -> None:
        counts, self._counts = self._counts, {}
        used, self._keys = self._keys, {}
        if not counts and not used:
            return
        try:
            async with self._database.write() as conn:
                for deployment_id, (count, last_at) in counts.items():
                    await deployment_queries.add_usage(conn, deployment_id, count, last_at)
                for key_id, used_at in used.items():
                    await key_queries.touch(conn, key_id, used_at)
        except Exception:
            for deployment_id, (count, last_at) in counts.items():
                pending, newer = self._counts.get(deployment_id, (0, last_at))
                self._counts[deployment_id] = (pending + count, max(newer, last_at))
            self._keys = {**used, **self._keys}
            raise

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="usage-recorder")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        try:
            await self.flush()
        except Exception:
            log.exception("usage_flush_failed")

    async def _run(self) -> None:
        while True:
            await asyncio.sleep(self._interval)
            try:
                await self.flush()
            except Exception:
                log.exception("usage_flush_failed")
