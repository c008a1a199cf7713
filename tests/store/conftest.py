"""The store tests' database: the test's own, opened as the server opens it."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from clara_runner.store.database import Database


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()
