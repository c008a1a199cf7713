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

from sqlalchemy import bindparam
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.security.rate_limits import RateLimit, Window, window_start
from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.tables import rate_limit_windows


def _upsert(dialect: Any) -> Any:
    statement = dialect.insert(rate_limit_windows).values(
        bucket=bindparam("bucket"), window_start=bindparam("window_start"), count=1, expires_at=bindparam("expires_at")
    )
    return statement.on_conflict_do_update(
        index_elements=[rate_limit_windows.c.bucket, rate_limit_windows.c.window_start],
        set_={"count": rate_limit_windows.c.count + 1},
    ).returning(rate_limit_windows.c.count)


_UPSERTS = {"postgresql": _upsert(postgresql), "sqlite": _upsert(sqlite)}
"""Built once per dialect and executed with parameters: this runs on every admitted request."""


async def increment(conn: AsyncConnection, bucket: str, window_start: int, expires_at: int) -> int:
    """Count one request in the window and return the count including it."""
    parameters = {"bucket": bucket, "window_start": window_start, "expires_at": expires_at}
    count: int = (await conn.execute(_UPSERTS[conn.dialect.name], parameters)).scalar_one()
    return count


class DatabaseCounters:
    """`security.rate_limits.Counters` on the application database."""

    def __init__(self, database: Database) -> None:
        self._database = database

    async def hit(self, bucket: str, limit: RateLimit) -> Window:
        start = window_start(limit.window_seconds, time.time())
        async with self._database.write() as conn:
            count = await increment(conn, limit.bucket_key(bucket), start, start + limit.window_seconds)
        return Window.counted(count, limit, start)

    async def aclose(self) -> None:
        """Nothing to close: the database belongs to the service layer."""


async def prune_windows(database: Database) -> int:
    """Delete every ended window; return how many."""
    return await delete_in_batches(database, rate_limit_windows, rate_limit_windows.c.expires_at <= int(time.time()))
