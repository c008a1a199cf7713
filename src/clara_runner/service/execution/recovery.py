"""Runs left behind by a process that died: found through its expired lease, marked `interrupted`.

Every process sweeps at start and then every third of `PROCESS_LEASE_SECONDS`, so a run whose process
was killed is marked `interrupted` (code `process_lost`) at most `PROCESS_LEASE_SECONDS` plus one sweep
interval after the process last renewed its lease: by a live replica, or by the same server when it
starts again. Sweeps in several processes at once mark each run once.

With the queue backend, the runs of a dead worker are first offered back to the queue, in the same
transaction (`run_queue.requeue_orphans`): per their deployment's `retryPolicy`, `unstarted` (the default)
runs again only a run that had not started an outbound call (running it again would repeat a side effect:
a model call, an API request), `always` runs it again, `never` does not; no run is given to workers more
than `QUEUE_MAX_ATTEMPTS` times. A run put back gets a new job, ahead of the runs waiting. The others are
marked `interrupted` as above, and the replicas relaying them are notified.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

import structlog

from clara_runner.clock import utcnow
from clara_runner.store import leases as lease_queries
from clara_runner.store import run_queue
from clara_runner.store.database import Connection, Database
from clara_runner.store.job_queue import JobQueue

log = structlog.get_logger(__name__)

PROCESS_LOST = "process_lost"
_MESSAGE = "The server process running this execution stopped before it finished (its lease expired)"


@dataclass(frozen=True, slots=True)
class QueueRetry:
    """How runs go back to the queue backend: those of dead workers (the sweep), and those a stopping worker
    hands back (`hand_back.py`)."""

    jobs: JobQueue
    queue: str
    max_attempts: int

    async def defer(self, conn: Connection, execution_ids: Iterable[uuid.UUID]) -> None:
        """Give each run put back in the queue (in this transaction) its new job, ahead of the runs waiting."""
        for execution_id in execution_ids:
            job_id = await self.jobs.defer(conn, execution_id, queue=self.queue, priority=0)
            await run_queue.set_job(conn, execution_id, job_id)


class OrphanSweeper:
    def __init__(self, database: Database, owner_id: uuid.UUID, retry: QueueRetry | None = None) -> None:
        self._database = database
        self._owner_id = owner_id
        """This process's lease: its own runs are never swept (it is alive, whatever its lease says)."""
        self._retry = retry

    async def sweep(self) -> int:
        """Requeue or mark every run whose owner's lease expired; return how many."""
        now = utcnow()
        async with self._database.write() as conn:
            requeued = await self._requeue(conn, now) if self._retry is not None else []
            marked = await lease_queries.interrupt_orphans(conn, now, PROCESS_LOST, _MESSAGE, self._owner_id)
            if self._retry is not None:
                await run_queue.announce(conn, [*requeued, *marked])
        if requeued:
            log.warning("runs_requeued", code=PROCESS_LOST, count=len(requeued))
        if marked:
            log.warning("runs_interrupted", code=PROCESS_LOST, count=len(marked))
        return len(requeued) + len(marked)

    async def _requeue(self, conn: Connection, now: datetime) -> list[uuid.UUID]:
        assert self._retry is not None
        requeued = list(await run_queue.requeue_orphans(conn, now, self._owner_id, self._retry.max_attempts))
        await self._retry.defer(conn, requeued)
        return requeued
