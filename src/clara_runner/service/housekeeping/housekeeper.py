"""Clean-up in the background of every server process: old executions, expired idempotency keys, ended
rate-limit windows, leases of processes long gone.

Every job is safe to run in several processes at once (they delete rows that match a condition, in
batches), so replicas need no coordination.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence

import structlog

log = structlog.get_logger(__name__)

Job = tuple[str, Callable[[], Awaitable[int]]]
"""A name and a clean-up that returns how many rows it removed."""


class Housekeeper:
    def __init__(self, jobs: Sequence[Job]) -> None:
        self._jobs = list(jobs)

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
