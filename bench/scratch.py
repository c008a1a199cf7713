"""What the database benchmarks share: a fresh database of each kind to fill, and a timer for one call."""

from __future__ import annotations

import os
import tempfile
import time
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path

import psycopg

POSTGRES_ADMIN_URL = os.environ.get("BENCH_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres")
"""The server the PostgreSQL runs create their database on (its `postgres` database)."""


def scratch_databases(kinds: str, name: str) -> Iterator[tuple[str, str]]:
    """(kind, URL) of a new empty database for each of the comma-separated `kinds` (sqlite, postgresql),
    one after the other: a SQLite file in a temporary folder, or `clara_bench_<name>` on the PostgreSQL
    server, dropped once the caller is done with it."""
    for kind in kinds.split(","):
        if kind == "sqlite":
            with tempfile.TemporaryDirectory() as folder:
                yield kind, f"sqlite:///{Path(folder) / f'{name}.db'}"
            continue
        database = f"clara_bench_{name}"
        with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
            conn.execute(f"DROP DATABASE IF EXISTS {database}")
            conn.execute(f"CREATE DATABASE {database}")
        try:
            yield kind, f"{POSTGRES_ADMIN_URL.rsplit('/', 1)[0]}/{database}"
        finally:
            with psycopg.connect(POSTGRES_ADMIN_URL, autocommit=True) as conn:
                conn.execute(f"DROP DATABASE IF EXISTS {database}")


async def timed(call: Callable[[], Awaitable[object]]) -> float:
    """Seconds one call took."""
    started = time.perf_counter()
    await call()
    return time.perf_counter() - started
