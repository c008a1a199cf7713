"""A job run every few seconds (or hours) in the background of a process, until the process stops.

A failing round is logged and the job runs again next time: it never stops the loop or the server. A
round that found the database unreachable is logged in one line: the outage is reported elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog

from clara_runner.errors import DatabaseUnavailable

log = structlog.get_logger(__name__)


class Periodic:
    def __init__(
        self, name: str, interval_seconds: float, job: Callable[[], Awaitable[object]], first_delay: float | None = None
    ) -> None:
        self.name = name
        self._interval = interval_seconds
        self._job = job
        self._first_delay = interval_seconds if first_delay is None else first_delay
        self._task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name=self.name)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task

    async def _loop(self) -> None:
        await asyncio.sleep(self._first_delay)
        while True:
            try:
                await self._job()
            except DatabaseUnavailable:
                log.warning("periodic_job_postponed", job=self.name, reason="database unreachable")
            except Exception:
                log.exception("periodic_job_failed", job=self.name)
            await asyncio.sleep(self._interval)
