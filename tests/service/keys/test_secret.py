"""Where the key-hashing secret comes from: the operator's setting, else one kept in the database that
every replica shares (and that survives a data folder lost with its container)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import func, select

from clara_runner.service.keys.secret import LEGACY_FILE, ServerSecret
from clara_runner.store.database import Database
from clara_runner.store.tables import server_secrets


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    store = Database(database_url)
    yield store
    await store.close()


async def _rows(database: Database) -> int:
    async with database.read() as conn:
        count: int = (await conn.execute(select(func.count()).select_from(server_secrets))).scalar_one()
    return count


async def test_the_configured_secret_wins_and_nothing_is_stored(database: Database, tmp_path: Path) -> None:
    secret = ServerSecret("from-the-environment", database, tmp_path)
    assert await secret.load() == b"from-the-environment"
    assert secret.source == "CLARA_SECRET_KEY"
    assert await _rows(database) == 0


async def test_replicas_starting_together_agree_on_one_secret_kept_in_the_database(
    database: Database, tmp_path: Path
) -> None:
    replicas = [ServerSecret("", database, tmp_path / f"replica-{index}") for index in range(8)]
    loaded = await asyncio.gather(*(replica.load() for replica in replicas))
    assert len(set(loaded)) == 1
    assert len(loaded[0]) >= 48
    assert sorted(replica.source for replica in replicas).count("the database") == 7
    restarted = ServerSecret("", database, tmp_path / "a-new-empty-data-folder")
    assert await restarted.load() == loaded[0]
    assert await _rows(database) == 1


async def test_a_secret_file_an_earlier_version_left_is_moved_into_the_database(
    database: Database, tmp_path: Path
) -> None:
    (tmp_path / LEGACY_FILE).write_text("secret-from-an-earlier-install\n")
    secret = ServerSecret("", database, tmp_path)
    assert await secret.load() == b"secret-from-an-earlier-install"
    assert "now kept in the database" in secret.source
    elsewhere = ServerSecret("", database, tmp_path / "another")
    assert await elsewhere.load() == b"secret-from-an-earlier-install"
