"""One migration history, applied from empty on SQLite and on PostgreSQL, matching the tables exactly."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import create_engine, inspect, text

from clara_runner.store.database import sync_database_url
from clara_runner.store.migrate import alembic_config, upgrade
from clara_runner.store.tables import metadata
from tests.support import POSTGRES_URL, on_postgres


@pytest.fixture
def empty_database(tmp_path: Path) -> Iterator[str]:
    """An empty database: a new SQLite file, or a new schema in the PostgreSQL test database."""
    if not on_postgres():
        yield f"sqlite:///{tmp_path / 'empty.db'}"
        return
    schema = f"migrations_{uuid.uuid4().hex[:8]}"
    admin = create_engine(sync_database_url(POSTGRES_URL))
    with admin.begin() as conn:
        conn.execute(text(f"CREATE SCHEMA {schema}"))
    try:
        yield f"{POSTGRES_URL}?options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f"DROP SCHEMA {schema} CASCADE"))
        admin.dispose()


def table_names(url: str) -> set[str]:
    engine = create_engine(sync_database_url(url))
    try:
        return set(inspect(engine).get_table_names())
    finally:
        engine.dispose()


def test_upgrade_from_empty_creates_every_table_and_matches_the_model(empty_database: str) -> None:
    upgrade(empty_database)
    assert table_names(empty_database) == {*metadata.tables, "alembic_version"}
    command.check(alembic_config(empty_database))


def test_downgrade_to_empty_and_upgrade_again(empty_database: str) -> None:
    upgrade(empty_database)
    command.downgrade(alembic_config(empty_database), "base")
    assert table_names(empty_database) == {"alembic_version"}
    upgrade(empty_database)
    assert set(metadata.tables) <= table_names(empty_database)


def test_upgrading_twice_is_harmless(empty_database: str) -> None:
    upgrade(empty_database)
    upgrade(empty_database)
    command.check(alembic_config(empty_database))
