"""Runs left behind by a process that died: found through its expired lease, marked `interrupted`.

Every process sweeps at start and then every third of `PROCESS_LEASE_SECONDS`, so a run whose process
was killed is marked `interrupted` (code `process_lost`) at most `PROCESS_LEASE_SECONDS` plus one sweep
interval after the process last renewed its lease: by a live replica, or by the same server when it
starts again. Sweeps in several processes at once mark each run once.
"""

from __future__ import annotations

import uuid

import structlog

from clara_runner.clock import utcnow
from clara_runner.store import leases as lease_queries
from clara_runner.store.database import Database

log = structlog.get_logger(__name__)

PROCESS_LOST = "process_lost"
_MESSAGE = "The server process running this execution stopped before it finished (its lease expired)"


class OrphanSweeper:
    def __init__(self, database: Database, owner_id: uuid.UUID) -> None:
        self._database = database
        self._owner_id = owner_id
        """This process's lease: its own runs are never swept (it is alive, whatever its lease says)."""

    async def sweep(self) -> int:
        """Mark every run whose owner's lease expired; return how many."""
        async with self._database.write() as conn:
            marked = await lease_queries.interrupt_orphans(conn, utcnow(), PROCESS_LOST, _MESSAGE, self._owner_id)
        if marked:
            log.warning("runs_interrupted", code=PROCESS_LOST, count=len(marked))
        return len(marked)
