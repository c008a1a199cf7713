"""Rate-limit counters in the database, for deployments without Redis.

One row per bucket and window. A request is counted with one atomic upsert,
`INSERT ... ON CONFLICT (bucket, window_start) DO UPDATE SET count = count + 1 RETURNING count`,
inside a write transaction (`BEGIN IMMEDIATE` on SQLite), so concurrent requests from any number of
processes each see a distinct count and exactly `max_requests` of them are admitted. Windows are
aligned to the clock, so every process agrees on the current window as long as their clocks do.
Ended windows are deleted by `prune`, which housekeeping calls.
"""

from __future__ import annotations

import time
from typing import Any

from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.security.rate_limits import RateLimit, Window
from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.tables import rate_limit_windows


async def increment(conn: AsyncConnection, bucket: str, window_start: int, expires_at: int) -> int:
    """Count one request in the window and return the count including it."""
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(rate_limit_windows).values(
        bucket=bucket, window_start=window_start, count=1, expires_at=expires_at
    )
    statement = statement.on_conflict_do_update(
        index_elements=[rate_limit_windows.c.bucket, rate_limit_windows.c.window_start],
        set_={"count": rate_limit_windows.c.count + 1},
    ).returning(rate_limit_windows.c.count)
    count: int = (await conn.execute(statement)).scalar_one()
    return count


class DatabaseCounters:
    """`security.rate_limits.Counters` on the application database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def hit(self, bucket: str, limit: RateLimit) -> Window:
        length = limit.window_seconds
        window_start = int(time.time()) // length * length
        ends = window_start + length
        async with self._database.write() as conn:
            count = await increment(conn, f"{bucket}/{limit.max_requests}/{length}", window_start, ends)
        return Window(allowed=count <= limit.max_requests, remaining=max(0, limit.max_requests - count), reset_at=ends)

    async def aclose(self) -> None:
        """Nothing to close: the database belongs to the service layer."""


async def prune_windows(database: Database) -> int:
    """Delete every ended window; return how many."""
    return await delete_in_batches(database, rate_limit_windows, rate_limit_windows.c.expires_at <= int(time.time()))
