"""Rate-limit window counts in the database, for deployments without Redis.

One row per counter and window. A lease of units is one atomic upsert,
`INSERT ... ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + :amount RETURNING count`,
in a write transaction (`BEGIN IMMEDIATE` on SQLite), so concurrent leases from any number of processes
each see a distinct count (`security/rate_limits.py` decides what a lease is granted). Ended windows are
deleted by `prune_windows`, which housekeeping calls.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite

from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.tables import rate_limit_windows


def _upsert(dialect: Any) -> Any:
    statement = dialect.insert(rate_limit_windows).values(
        bucket=bindparam("bucket"),
        window_start=bindparam("window_start"),
        count=bindparam("amount"),
        expires_at=bindparam("expires_at"),
    )
    return statement.on_conflict_do_update(
        index_elements=[rate_limit_windows.c.bucket, rate_limit_windows.c.window_start],
        set_={"count": rate_limit_windows.c.count + bindparam("amount")},
    ).returning(rate_limit_windows.c.count)


_UPSERTS = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}
"""Built once per dialect and executed with parameters."""


class DatabaseCounters:
    """Window counts (`security.rate_limits.Counters`) in the application database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def add(self, key: str, window_start: int, window_seconds: int, amount: int) -> int:
        parameters = {
            "bucket": key,
            "window_start": window_start,
            "amount": amount,
            "expires_at": window_start + window_seconds,
        }
        async with self._database.write() as conn:
            count: int = (await conn.execute(_UPSERTS[conn.dialect.name], parameters)).scalar_one()
        return count

    async def reachable(self) -> bool:
        """The database is checked by `/health` itself."""
        return True

    async def aclose(self) -> None:
        """Nothing to close: the database belongs to whoever built it."""


async def prune_windows(database: Database) -> int:
    """Delete every ended window; return how many."""
    return await delete_in_batches(database, rate_limit_windows, rate_limit_windows.c.expires_at <= int(time.time()))
