"""The 0002_versions migration adds the mismatch counter and takes it away again on downgrade.

(That the migrated schema matches `store/tables.py` is checked for every revision by test_migrations.py.)
"""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, inspect

from clara_runner.store.database import sync_database_url
from clara_runner.store.migrate import alembic_config, upgrade


def _columns(url: str) -> set[str]:
    engine = create_engine(sync_database_url(url))
    try:
        with engine.connect() as conn:
            return {column["name"] for column in inspect(conn).get_columns("deployments")}
    finally:
        engine.dispose()


def test_the_mismatch_counter_column_comes_and_goes_with_the_revision(database_url: str) -> None:
    assert "output_schema_mismatches" in _columns(database_url)
    command.downgrade(alembic_config(database_url), "0001")
    try:
        assert "output_schema_mismatches" not in _columns(database_url)
    finally:
        upgrade(database_url)
    assert "output_schema_mismatches" in _columns(database_url)
