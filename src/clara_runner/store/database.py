"""One async engine for SQLite (the zero-setup default) or PostgreSQL (production).

SQLite gets WAL, a busy timeout and foreign keys on every connection, and write transactions start
with `BEGIN IMMEDIATE`: a deferred transaction that later writes can fail at once with "database is
locked", whatever the busy timeout says. Reads stay deferred so they never wait for writers.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
from collections.abc import AsyncIterator, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import quote

from sqlalchemy import event, text
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DataError, DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine

from clara_runner.errors import DatabaseUnavailable, UnstorableValue
from clara_runner.store.idle_ping import ping_idle_engine_connections
from clara_runner.store.writer import BatchStore
from clara_runner.store.writer_postgres import PostgresBatches
from clara_runner.store.writer_sqlite import SqliteBatches

_IMMEDIATE = "clara_immediate"

Connection = AsyncConnection
"""An open transaction, as the store's query functions take it (callers name no SQLAlchemy type)."""

StatementObserver = Callable[[str], None]
"""Told the text of every statement sent to the database (tests count them; metrics may listen)."""


def async_database_url(url: str) -> URL:
    """Accept the seed's plain `postgresql://user:pass@host/db` and `sqlite:///file` forms."""
    parsed = make_url(url)
    driver = {
        "postgresql": "postgresql+psycopg",
        "postgres": "postgresql+psycopg",
        "sqlite": "sqlite+aiosqlite",
    }.get(parsed.drivername)
    if driver is not None:
        parsed = parsed.set(drivername=driver)
    return parsed


def sync_database_url(url: str) -> URL:
    """The same database through a blocking driver, for Alembic and command-line tools."""
    parsed = async_database_url(url)
    if parsed.drivername == "sqlite+aiosqlite":
        return parsed.set(drivername="sqlite")
    return parsed


class Database:
    def __init__(self, url: str, *, pool_size: int = 20, max_overflow: int = 10, pool_timeout: float = 10.0) -> None:
        self.url = async_database_url(url)
        self.is_sqlite = self.url.get_backend_name() == "sqlite"
        options: dict[str, Any] = {
            "pool_size": pool_size,
            "max_overflow": max_overflow,
            "pool_timeout": pool_timeout,
        }
        if self.is_sqlite:
            _ensure_parent_folder(self.url)
            options["connect_args"] = {"timeout": 30}
        else:
            options.update(pool_recycle=1800, connect_args={"connect_timeout": 5})
        self.engine: AsyncEngine = create_async_engine(self.url, **options)
        self.write_lock: contextlib.AbstractAsyncContextManager[Any] = (
            asyncio.Lock() if self.is_sqlite else contextlib.nullcontext()
        )
        """Held by every writer of this process on SQLite (the execution writer too)."""
        if self.is_sqlite:
            _configure_sqlite(self.engine)
        else:
            # A connection to a local SQLite file cannot go stale; one to PostgreSQL is pinged when idle.
            ping_idle_engine_connections(self.engine)
        self.statement_observers: list[StatementObserver] = []
        """Shared with the execution writer's connection (`execution_batches`)."""
        event.listen(self.engine.sync_engine, "before_cursor_execute", self._observe)

    def observe_pool(self, checked_out: Callable[[], None], checked_in: Callable[[], None]) -> None:
        """Be told each time a pooled connection is taken and given back (the pool-use gauge)."""
        pool = self.engine.sync_engine.pool
        event.listen(pool, "checkout", lambda *_: checked_out())
        event.listen(pool, "checkin", lambda *_: checked_in())

    def _observe(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        for observer in self.statement_observers:
            observer(statement)

    @asynccontextmanager
    async def read(self) -> AsyncIterator[AsyncConnection]:
        """A read-only transaction."""
        with translated_errors():
            async with self.engine.connect() as connection, connection.begin():
                yield connection

    @asynccontextmanager
    async def write(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction; committed when the block exits normally, rolled back otherwise.

        SQLite takes one writer at a time. Within a process, writers queue on a lock instead of
        colliding in SQLite, whose busy handler sleeps in growing steps (seconds of tail latency under
        load); the busy timeout still arbitrates between processes.
        """
        with translated_errors():
            async with self.write_lock, self.engine.connect() as connection:
                if self.is_sqlite:
                    await connection.execution_options(**{_IMMEDIATE: True})
                async with connection.begin():
                    yield connection

    @asynccontextmanager
    async def statement(self) -> AsyncIterator[AsyncConnection]:
        """A connection for one statement that is atomic on its own: PostgreSQL runs it without BEGIN and
        COMMIT (two round trips fewer), its effects committed as it ends; SQLite in a write transaction like
        any other. Never for several statements that must hold together."""
        if self.is_sqlite:
            async with self.write() as connection:
                yield connection
            return
        with translated_errors():
            async with self.engine.connect() as connection:
                yield await connection.execution_options(isolation_level="AUTOCOMMIT")

    async def ping(self) -> None:
        """`DatabaseUnavailable` unless the database answers.

        SQLite is asked on the calling thread, by a connection of its own: through the pool, a ping is
        several hops between the event loop and the connection's thread, and while other threads keep
        both cores busy (a huge body being processed) every hop waits for the scheduler and the GIL
        (/health took 100 to 300 ms instead of 2; `bench/loop_responsiveness.py`). Reading the schema of
        a local file in WAL mode takes microseconds and waits for no writer."""
        if self.is_sqlite:
            _read_sqlite_schema(self.url.database)
            return
        with translated_errors():
            async with self.engine.connect() as connection:
                await connection.execute(text("SELECT 1"))

    def execution_batches(self) -> BatchStore:
        """Where the execution writer stores its batches: a connection of its own to the same database."""
        if self.is_sqlite:
            assert self.url.database is not None
            return SqliteBatches(self.url.database, self.write_lock, self.statement_observers)
        return PostgresBatches(self.conninfo, self.statement_observers)

    @property
    def conninfo(self) -> str:
        """The PostgreSQL database as a libpq URL, for connections the engine does not pool (the writer's,
        LISTEN, procrastinate's)."""
        return self.url.set(drivername="postgresql").render_as_string(hide_password=False)

    async def close(self) -> None:
        await self.engine.dispose()


class ConstraintViolation(Exception):
    """A row would break a rule of the schema (a slug another live deployment holds, a deleted parent)."""


@contextlib.contextmanager
def translated_errors() -> Iterator[None]:
    """Driver errors as the store's own: unreachable or every pooled connection busy (503), unstorable
    input (400), a rule of the schema broken.

    Anything else (a broken query) stays what it is: a bug, answered 500.
    """
    try:
        yield
    except IntegrityError as exc:
        raise ConstraintViolation(str(exc.orig)) from exc
    except DataError as exc:
        raise UnstorableValue(f"The database refused a value of this request: {_first_line(exc.orig)}") from exc
    except (OperationalError, InterfaceError) as exc:
        raise DatabaseUnavailable() from exc
    except PoolTimeout as exc:
        raise DatabaseUnavailable(
            "Every database connection of this server process is busy, so the request was not run; retry later"
        ) from exc
    except DBAPIError as exc:
        if exc.connection_invalidated:
            raise DatabaseUnavailable() from exc
        raise


def _read_sqlite_schema(database: str | None) -> None:
    """Open the database file (never creating it) and read its schema; a busy file is reachable."""
    try:
        connection = sqlite3.connect(f"file:{quote(database or '')}?mode=rw", uri=True, timeout=0)
        try:
            connection.execute("SELECT count(*) FROM sqlite_master").fetchone()
        finally:
            connection.close()
    except sqlite3.Error as exc:
        if getattr(exc, "sqlite_errorcode", None) != sqlite3.SQLITE_BUSY:
            raise DatabaseUnavailable() from exc


def _first_line(error: BaseException | None) -> str:
    return str(error).strip().splitlines()[0] if error is not None and str(error).strip() else "invalid value"


def _ensure_parent_folder(url: URL) -> None:
    database = url.database
    if database and database != ":memory:" and not database.startswith("file:"):
        Path(database).expanduser().parent.mkdir(parents=True, exist_ok=True)


def _configure_sqlite(engine: AsyncEngine) -> None:
    sync_engine = engine.sync_engine

    @event.listens_for(sync_engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "PRAGMA journal_mode=WAL",
            "PRAGMA busy_timeout=30000",
            "PRAGMA synchronous=NORMAL",
            "PRAGMA foreign_keys=ON",
        ):
            cursor.execute(pragma)
        cursor.close()

    @event.listens_for(sync_engine, "begin")
    def _on_begin(connection: Any) -> None:
        immediate = connection.get_execution_options().get(_IMMEDIATE, False)
        connection.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")
