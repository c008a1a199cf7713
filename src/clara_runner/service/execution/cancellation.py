"""Cancels that reach a process other than the one running the run.

Replicas and uvicorn workers share the database but not their runs: a cancel answered by another
process marks the run's row (`cancel_requested_at`), and the owner, which polls for marked rows among
its own unfinished runs every `POLL_SECONDS` while it has runs in flight, cancels them as if the request
had reached it. The run then ends `cancelled` (`run_cancelled`) as any cancelled run does.
"""

from __future__ import annotations

import uuid

from clara_runner.service.execution.runs import CANCEL_REQUESTED, InFlight
from clara_runner.store import executions as execution_queries
from clara_runner.store.database import Database

POLL_SECONDS = 0.5
"""How soon after a cancel reached another process the owner stops the run (plus one query)."""


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
        for execution_id in requested:
            run = self._in_flight.get(execution_id)
            if run is not None and not run.final and run.interrupted_by is None:
                run.interrupt(CANCEL_REQUESTED)
