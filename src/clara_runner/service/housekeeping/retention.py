"""Execution retention: rows older than `EXECUTION_RETENTION_DAYS` are deleted (0 keeps them forever).

Their statistics roll-ups (`execution_rollups`) go with them: a roll-up is deleted once its whole hour is
past the cut-off, so the statistics never count more than the rows kept except, until the next pass, in
the one hour the cut-off falls in.

Inputs and outputs of executions are customer data; keeping them no longer than needed is the point.
Deletion runs in batches (`store/pruning.py`), so it never holds the table long, and it is safe for
several processes to prune at once: each batch deletes whatever rows are still there.
"""

from __future__ import annotations

from datetime import timedelta

from clara_runner.clock import utcnow
from clara_runner.store import leases as lease_queries
from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.rollups import hour_of
from clara_runner.store.tables import execution_rollups, executions


class ExecutionRetention:
    def __init__(self, database: Database, days: int) -> None:
        self._database = database
        self._days = days

    async def prune(self) -> int:
        """Delete executions created more than the retention period ago; return how many."""
        if self._days == 0:
            return 0
        cutoff = utcnow() - timedelta(days=self._days)
        removed = await delete_in_batches(self._database, executions, executions.c.created_at < cutoff)
        await delete_in_batches(self._database, execution_rollups, execution_rollups.c.hour < hour_of(cutoff))
        return removed


LEASE_KEEP = timedelta(hours=1)
"""Expired process leases are kept this long (they own nothing by then) for operators to look at."""


async def prune_leases(database: Database) -> int:
    """Forget process leases that expired over an hour ago and own no unfinished run; return how many."""
    async with database.write() as conn:
        return await lease_queries.prune_expired(conn, utcnow() - LEASE_KEEP)
