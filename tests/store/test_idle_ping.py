"""Pooled PostgreSQL connections are pinged before use only after lying idle: one whose server process
ended while it was idle is replaced unseen, one given back a moment ago is used as it is (a transaction
on a connection that broke meanwhile fails, and the next gets a new one). Both pools of a process: the
engine's and procrastinate's."""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from typing import NamedTuple

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


class Pooled(NamedTuple):
    """One connection of a pool: its server process id as the pool hands it out, and what a transaction
    on it raises once that process has ended."""

    backend_pid: Callable[[], Awaitable[int]]
    broken: type[Exception]


@pytest.fixture(params=["engine", "procrastinate"])
async def pooled(request: pytest.FixtureRequest, database_url: str) -> AsyncIterator[Pooled]:
    if request.param == "engine":
        database = Database(database_url, pool_size=1, max_overflow=0)

        async def engine_pid() -> int:
            async with database.read() as conn:
                pid: int = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar_one()
            return pid

        yield Pooled(engine_pid, DatabaseUnavailable)
        await database.close()
        return
    pool = IdlePingPool(Database(database_url).conninfo, min_size=1, max_size=1, open=False)
    await pool.open(wait=True)

    async def pool_pid() -> int:
        async with pool.connection() as conn:
            row = await (await conn.execute("SELECT pg_backend_pid()")).fetchone()
        assert row is not None
        pid: int = row[0]
        return pid

    yield Pooled(pool_pid, psycopg.OperationalError)
    await pool.close()


async def test_a_connection_ended_while_idle_is_replaced_before_use(
    pooled: Pooled, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    first = await pooled.backend_pid()
    await _end_backend(database_url, first)
    monkeypatch.setattr(idle_ping, "IDLE_BEFORE_PING_SECONDS", 0.0)
    assert await pooled.backend_pid() != first


async def test_a_connection_given_back_a_moment_ago_is_used_without_a_ping(pooled: Pooled, database_url: str) -> None:
    first = await pooled.backend_pid()
    await _end_backend(database_url, first)
    with pytest.raises(pooled.broken):
        await pooled.backend_pid()
    assert await pooled.backend_pid() != first
