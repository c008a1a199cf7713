from __future__ import annotations

import asyncio
import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import text

from clara_runner.errors import DatabaseUnavailable
from clara_runner.store.database import Database, async_database_url, sync_database_url


@pytest.mark.parametrize(
    ("given", "driver"),
    [
        ("postgresql://clara:clara123@localhost:5432/clara_workflows", "postgresql+psycopg"),
        ("postgres://u:p@h/db", "postgresql+psycopg"),
        ("postgresql+psycopg://u@h/db", "postgresql+psycopg"),
        ("sqlite:///data/clara.db", "sqlite+aiosqlite"),
    ],
)
def test_the_seeds_plain_urls_get_async_drivers(given: str, driver: str) -> None:
    assert async_database_url(given).drivername == driver


def test_sqlite_has_a_blocking_twin_for_migrations() -> None:
    assert sync_database_url("sqlite:///x.db").drivername == "sqlite"


async def test_sqlite_connections_get_wal_foreign_keys_and_a_busy_timeout(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'nested' / 'x.db'}")
    try:
        async with database.read() as conn:
            pragmas = [
                (await conn.execute(text(f"PRAGMA {name}"))).scalar()
                for name in ("journal_mode", "foreign_keys", "busy_timeout")
            ]
        assert pragmas == ["wal", 1, 30000]
    finally:
        await database.close()


async def test_sqlite_concurrent_writers_never_see_database_is_locked(tmp_path: Path) -> None:
    database = Database(f"sqlite:///{tmp_path / 'x.db'}")
    try:
        async with database.write() as conn:
            await conn.execute(text("CREATE TABLE counter (n INTEGER)"))
            await conn.execute(text("INSERT INTO counter VALUES (0)"))

        async def bump() -> None:
            async with database.write() as conn:
                value = (await conn.execute(text("SELECT n FROM counter"))).scalar_one()
                await asyncio.sleep(0)
                await conn.execute(text("UPDATE counter SET n = :n"), {"n": value + 1})

        await asyncio.gather(*(bump() for _ in range(40)))
        async with database.read() as conn:
            assert (await conn.execute(text("SELECT n FROM counter"))).scalar_one() == 40
    finally:
        await database.close()


async def test_a_pool_with_every_connection_busy_is_unavailable_not_an_error(database_url: str) -> None:
    database = Database(database_url, pool_size=1, max_overflow=0, pool_timeout=0.1)
    try:
        async with database.read():
            with pytest.raises(DatabaseUnavailable) as raised:
                async with database.read():
                    pass
        assert raised.value.status == 503
        assert "busy" in raised.value.message
        async with database.read() as conn:
            assert (await conn.execute(text("SELECT 1"))).scalar_one() == 1
    finally:
        await database.close()


async def test_a_sqlite_ping_reads_the_file_and_never_creates_it(tmp_path: Path) -> None:
    path = tmp_path / "x.db"
    database = Database(f"sqlite:///{path}")
    try:
        async with database.write() as conn:
            await conn.execute(text("CREATE TABLE kept (n INTEGER)"))
        await database.ping()
        path.rename(tmp_path / "moved.db")
        with pytest.raises(DatabaseUnavailable):
            await database.ping()
        assert not path.exists()
    finally:
        await database.close()


async def test_a_sqlite_file_locked_by_a_writer_is_still_reachable(tmp_path: Path) -> None:
    """Another process may hold the file's lock (here in exclusive mode, which shuts readers out too) for a
    moment: the file is there and answering, so the ping does not call it unreachable."""
    path = tmp_path / "x.db"
    database = Database(f"sqlite:///{path}")
    async with database.write() as conn:
        await conn.execute(text("CREATE TABLE kept (n INTEGER)"))
    await database.close()
    holder = sqlite3.connect(path, isolation_level=None)
    try:
        holder.execute("PRAGMA locking_mode=EXCLUSIVE")
        holder.execute("BEGIN EXCLUSIVE")
        holder.execute("INSERT INTO kept VALUES (1)")
        with pytest.raises(sqlite3.OperationalError, match="locked"):
            sqlite3.connect(path, timeout=0).execute("SELECT count(*) FROM kept").fetchone()
        await database.ping()
    finally:
        holder.close()
