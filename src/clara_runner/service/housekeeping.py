"""Periodic clean-up in the background of every server process: old executions, expired idempotency
keys, ended rate-limit windows.

One supervised task per process: a failing job is logged and tried again next round; it never stops
the loop or the server. Every job is safe to run in several processes at once (they delete rows that
match a condition, in batches), so replicas need no coordination.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger(__name__)

Job = tuple[str, Callable[[], Awaitable[int]]]
"""A name and a clean-up that returns how many rows it removed."""

_FIRST_RUN_DELAY_SECONDS = 60.0


class Housekeeper:
    def __init__(self, jobs: Sequence[Job], interval_seconds: float) -> None:
        self._jobs = list(jobs)
        self._interval = interval_seconds
        self._task: asyncio.Task[None] | None = None

    async def run_once(self) -> dict[str, int]:
        """Run every job once; return rows removed by each job that succeeded."""
        removed: dict[str, int] = {}
        for name, job in self._jobs:
            try:
                removed[name] = await job()
            except Exception:
                log.exception("housekeeping_failed", job=name)
                continue
            if removed[name]:
                log.info("housekeeping", job=name, removed=removed[name])
        return removed

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="housekeeping")

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        await asyncio.sleep(min(self._interval, _FIRST_RUN_DELAY_SECONDS))
        while True:
            await self.run_once()
            await asyncio.sleep(self._interval)
