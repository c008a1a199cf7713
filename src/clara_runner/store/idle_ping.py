"""Check a pooled PostgreSQL connection before use only when it has lain idle, not every time.

A connection can go stale while it waits in a pool (the server restarted, a proxy dropped it), so pools
ping one before handing it out. Pinging every checkout is a round trip per transaction: under load, the
queue worker's own claim and procrastinate's fetch and finish each paid one (bench/README.md). A
connection given back a moment ago was alive a moment ago, so one is pinged only after lying idle for
`IDLE_BEFORE_PING_SECONDS`. A connection that breaks while in use fails that transaction whatever the
pool does; SQLAlchemy then discards every connection opened before the failure, and psycopg_pool discards
one it gets back broken, so a restart of the server costs no more than the transactions it cut.

The same rule for both pools of a process: the engine's (`Database`) and procrastinate's (`JobQueue`).
"""

from __future__ import annotations

import time
import weakref
from typing import Any

import psycopg
import psycopg_pool
from sqlalchemy import event
from sqlalchemy.exc import DisconnectionError
from sqlalchemy.ext.asyncio import AsyncEngine

IDLE_BEFORE_PING_SECONDS = 5.0
_RETURNED_AT = "clara_returned_at"


def _idle_too_long(returned_at: float | None) -> bool:
    return returned_at is None or time.monotonic() - returned_at >= IDLE_BEFORE_PING_SECONDS


def ping_idle_engine_connections(engine: AsyncEngine) -> None:
    """Have the engine's pool ping a connection idle for long before handing it out, and replace it when the
    ping fails (the pool tries anew on `DisconnectionError`). Instead of `pool_pre_ping`, which pings always."""
    pool = engine.sync_engine.pool
    dialect = engine.dialect

    @event.listens_for(pool, "connect")
    @event.listens_for(pool, "checkin")
    def stamp(_dbapi_connection: Any, record: Any) -> None:
        if record is not None:
            record.info[_RETURNED_AT] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def ping_if_idle(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        if not _idle_too_long(record.info.get(_RETURNED_AT)):
            return
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:
            raise DisconnectionError("a pooled connection did not answer its ping") from exc


class IdlePingPool(psycopg_pool.AsyncConnectionPool):
    """psycopg_pool's pool for procrastinate (`PsycopgConnector(pool_factory=...)`), whose connector asks
    for `check_connection` on every checkout: checked only after lying idle for long."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._returned_at: weakref.WeakKeyDictionary[psycopg.AsyncConnection[Any], float] = weakref.WeakKeyDictionary()
        kwargs["check"] = self._check_if_idle
        super().__init__(*args, **kwargs)

    async def _check_if_idle(self, conn: psycopg.AsyncConnection[Any]) -> None:
        if _idle_too_long(self._returned_at.get(conn)):
            await psycopg_pool.AsyncConnectionPool.check_connection(conn)

    async def putconn(self, conn: psycopg.AsyncConnection[Any]) -> None:
        self._returned_at[conn] = time.monotonic()
        await super().putconn(conn)
