"""Bring a database to the latest schema, safely when several processes start at once."""

from __future__ import annotations

import fcntl
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, create_engine, pool, text

from clara_runner.store.database import sync_database_url

MIGRATIONS = Path(__file__).parent / "migrations"
_PG_LOCK_KEY = 0x0C1A_7A00


def alembic_config(url: str) -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    rendered = sync_database_url(url).render_as_string(hide_password=False)
    config.set_main_option("sqlalchemy.url", rendered.replace("%", "%%"))
    return config


def upgrade(url: str, revision: str = "head") -> None:
    """Apply every pending migration; a second process waits for the first instead of racing it."""
    config = alembic_config(url)
    sync_url = sync_database_url(url)
    engine = create_engine(sync_url, poolclass=pool.NullPool)
    try:
        with (
            _exclusive(sync_url.database if sync_url.get_backend_name() == "sqlite" else None),
            engine.connect() as conn,
        ):
            _lock_postgres(conn)
            config.attributes["connection"] = conn
            command.upgrade(config, revision)
            conn.commit()
    finally:
        engine.dispose()


def _lock_postgres(connection: Connection) -> None:
    if connection.dialect.name == "postgresql":
        connection.execute(text("SELECT pg_advisory_xact_lock(:key)"), {"key": _PG_LOCK_KEY})


@contextmanager
def _exclusive(sqlite_file: str | None) -> Iterator[None]:
    if not sqlite_file or sqlite_file == ":memory:":
        yield
        return
    path = Path(sqlite_file).expanduser()
    path.parent.mkdir(parents=True, exist_ok=True)
    with (path.parent / f"{path.name}.migrate.lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)
