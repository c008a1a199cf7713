"""Cancels that reach a process other than the one running the run.

Replicas and uvicorn workers share the database but not their runs: a cancel answered by another
process marks the run's row (`cancel_requested_at`, with its reason), and the owner, which polls for
marked rows among its own unfinished runs every `POLL_SECONDS` while it has runs in flight, cancels them
as if the request had reached it. The run then ends `cancelled` as any cancelled run does: `run_cancelled`
for a request to its cancel URL, `client_closed_request` for a queue backend run whose caller hung up on
the web replica relaying it. A run of the queue backend still waiting for a worker has no owner: it is
recorded `cancelled` at once, with the same code.
"""

from __future__ import annotations

import enum
import uuid

from clara_runner.clock import utcnow
from clara_runner.service.execution.runs import CANCEL_REQUESTED, InFlight, cancelled_as
from clara_runner.store import executions as execution_queries
from clara_runner.store import run_queue
from clara_runner.store.database import Database

POLL_SECONDS = 0.5
"""How soon after a cancel reached another process the owner stops the run (plus one query)."""


class Cancelled(enum.Enum):
    """What `cancel_elsewhere` did."""

    RECORDED = "recorded"
    """The run waited for a queue worker: it is recorded `cancelled`."""
    MARKED = "marked"
    """Another process holds the run: it is asked to cancel it."""
    FINISHED = "finished"
    """The run had already ended: nothing changed."""


async def cancel_elsewhere(database: Database, execution_id: uuid.UUID, reason: str, *, queued: bool) -> Cancelled:
    """Cancel for `reason` (`CANCEL_REQUESTED`, `CALLER_GONE`) a run this process does not hold; `queued`
    when the queue backend runs it (it may still wait for a worker)."""
    now = utcnow()
    async with database.write() as conn:
        if queued and await run_queue.cancel_waiting(conn, execution_id, *cancelled_as(reason), now):
            return Cancelled.RECORDED
        if await execution_queries.request_cancel(conn, execution_id, now, reason):
            return Cancelled.MARKED
    return Cancelled.FINISHED


class CancelRequests:
    def __init__(self, database: Database, in_flight: InFlight, owner_id: uuid.UUID) -> None:
        self._database = database
        self._in_flight = in_flight
        self._owner_id = owner_id

    async def poll(self) -> None:
        """Cancel this process's runs that a cancel elsewhere asked to stop; no query while none is running."""
        if not len(self._in_flight):
            return
        async with self._database.read() as conn:
            requested = await execution_queries.cancels_requested(conn, self._owner_id)
        for execution_id, reason in requested:
            run = self._in_flight.get(execution_id)
            if run is not None and not run.final and run.interrupted_by is None:
                run.interrupt(reason or CANCEL_REQUESTED)
