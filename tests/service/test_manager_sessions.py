"""Manager sessions on the server: opened, found by their token only, ended by sign-out, by time or by a
new admin key, and pruned once ended."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

from clara_runner.clock import utcnow
from clara_runner.security.sessions import SessionLifetime
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.service.manager_sessions import ManagerSessions
from clara_runner.store.database import Database
from clara_runner.store.tables import manager_sessions

LIFETIME = SessionLifetime(idle_seconds=600, max_seconds=3600)


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()


def sessions(database: Database, tmp_path: Path, admin_key: str = "admin") -> ManagerSessions:
    return ManagerSessions(database, ServerSecret("secret", database, tmp_path), admin_key, LIFETIME)


async def stored(database: Database) -> list[tuple[str, object]]:
    async with database.read() as conn:
        rows = await conn.execute(select(manager_sessions.c.token_hash, manager_sessions.c.expires_at))
        return [(row.token_hash, row.expires_at) for row in rows]


async def test_a_session_is_found_by_its_token_and_ends_at_sign_out(database: Database, tmp_path: Path) -> None:
    service = sessions(database, tmp_path)
    token, session = await service.open()
    ((token_hash, expires_at),) = await stored(database)
    assert token not in token_hash, "only the token's hash is stored"
    assert await service.resume(token) == session
    assert await stored(database) == [(token_hash, expires_at)], "a use within a minute writes nothing"
    for other in (None, "", "x", token + "x", "y" * 500):
        assert await service.resume(other) is None
    await service.close(token)
    assert await service.resume(token) is None
    assert await stored(database) == []


async def test_a_new_admin_key_ends_the_sessions_of_the_old_one(database: Database, tmp_path: Path) -> None:
    token, _ = await sessions(database, tmp_path).open()
    assert await sessions(database, tmp_path, admin_key="rotated").resume(token) is None
    assert await stored(database) == []


async def test_prune_deletes_only_ended_sessions(database: Database, tmp_path: Path) -> None:
    service = sessions(database, tmp_path)
    ended, _ = await service.open()
    async with database.write() as conn:
        await conn.execute(update(manager_sessions).values(expires_at=utcnow() - timedelta(seconds=1)))
    kept, _ = await service.open()
    assert await service.prune() == 1
    assert len(await stored(database)) == 1
    assert await service.resume(kept) is not None
    assert await service.resume(ended) is None
