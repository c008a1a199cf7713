"""Pooled PostgreSQL connections are pinged before use only after lying idle: one whose server process
ended while it was idle is replaced unseen, one given back a moment ago is used as it is (a transaction
on a connection that broke meanwhile fails, and the next gets a new one). Both pools of a process: the
engine's and procrastinate's."""

from __future__ import annotations

from collections.abc import AsyncIterator

import psycopg
import pytest
from sqlalchemy import text

from clara_runner.errors import DatabaseUnavailable
from clara_runner.store import idle_ping
from clara_runner.store.database import Database
from clara_runner.store.idle_ping import IdlePingPool
from tests.support import on_postgres

pytestmark = pytest.mark.skipif(not on_postgres(), reason="pings are for PostgreSQL connections")


async def _end_backend(database_url: str, pid: int) -> None:
    """End a server process from outside, as a restart or a dropped connection would."""
    conninfo = Database(database_url).conninfo
    async with await psycopg.AsyncConnection.connect(conninfo, autocommit=True) as conn:
        await conn.execute("SELECT pg_terminate_backend(%s)", (pid,))


@pytest.fixture
async def one_connection(database_url: str) -> AsyncIterator[Database]:
    database = Database(database_url, pool_size=1, max_overflow=0)
    yield database
    await database.close()


async def _backend_pid(database: Database) -> int:
    async with database.read() as conn:
        pid: int = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
    return pid


async def test_an_engine_connection_ended_while_idle_is_replaced_before_use(
    one_connection: Database, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _backend_pid(one_connection)
    await _end_backend(database_url, first)
    monkeypatch.setattr(idle_ping, "IDLE_BEFORE_PING_SECONDS", 0.0)
    assert await _backend_pid(one_connection) not in (first, 0)


async def test_an_engine_connection_given_back_a_moment_ago_is_used_without_a_ping(
    one_connection: Database, database_url: str
) -> None:
    first = await _backend_pid(one_connection)
    await _end_backend(database_url, first)
    with pytest.raises(DatabaseUnavailable):
        await _backend_pid(one_connection)
    assert await _backend_pid(one_connection) != first


async def _pool_backend_pid(pool: IdlePingPool) -> int:
    async with pool.connection() as conn:
        row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
    assert row is not None
    pid: int = row[0]
    return pid


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[IdlePingPool]:
    pool = IdlePingPool(Database(database_url).conninfo, min_size=1, max_size=1, open=False)
    await pool.open(wait=True)
    yield pool
    await pool.close()


async def test_a_procrastinate_pool_connection_ended_while_idle_is_replaced_before_use(
    pool: IdlePingPool, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await _pool_backend_pid(pool)
    await _end_backend(database_url, first)
    monkeypatch.setattr(idle_ping, "IDLE_BEFORE_PING_SECONDS", 0.0)
    assert await _pool_backend_pid(pool) != first


async def test_a_procrastinate_pool_connection_given_back_a_moment_ago_is_used_without_a_check(
    pool: IdlePingPool, database_url: str
) -> None:
    first = await _pool_backend_pid(pool)
    await _end_backend(database_url, first)
    with pytest.raises(psycopg.OperationalError):
        await _pool_backend_pid(pool)
    assert await _pool_backend_pid(pool) != first
