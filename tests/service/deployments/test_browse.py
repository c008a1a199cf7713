"""The Manager's list through the service: pages by cursor neither skip nor repeat a deployment, even
when many share a creation time, and both directions give the same pages."""

from __future__ import annotations

import itertools
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import pytest

from clara_runner.service.deployments.browse import InvalidCursor, Listing, ListingRequest, list_deployments
from clara_runner.store.database import Database
from tests.store.stored_runs import stored_deployment

MOMENTS = [datetime(2026, 12, 1, 12, minute, tzinfo=UTC) for minute in (0, 0, 0, 1, 1, 2, 2, 2, 2, 3, 3)]


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    yield db
    await db.close()


@pytest.fixture
async def stored(database: Database) -> list[uuid.UUID]:
    async with database.write() as conn:
        return [await stored_deployment(conn, moment) for moment in MOMENTS]


def ids(listing: Listing) -> list[uuid.UUID]:
    return [item.deployment.id for item in listing.items]


async def test_cursor_pages_cover_every_deployment_once_in_order(database: Database, stored: list[uuid.UUID]) -> None:
    expected = [
        deployment_id
        for _, deployment_id in sorted(
            zip(MOMENTS, stored, strict=True), key=lambda pair: (pair[0], pair[1]), reverse=True
        )
    ]
    pages: list[Listing] = [await list_deployments(database, ListingRequest.parse(None, None), page_size=3)]
    while pages[-1].next_cursor is not None:
        pages.append(
            await list_deployments(database, ListingRequest.parse(None, None, pages[-1].next_cursor), page_size=3)
        )
    assert [len(page.items) for page in pages] == [3, 3, 3, 2]
    assert [deployment_id for page in pages for deployment_id in ids(page)] == expected
    assert pages[0].previous_cursor is None

    for newer, older in itertools.pairwise(pages):
        assert older.previous_cursor is not None
        back = await list_deployments(
            database, ListingRequest.parse(None, None, before=older.previous_cursor), page_size=3
        )
        assert ids(back) == ids(newer)


async def test_a_cursor_that_was_tampered_with_is_refused(database: Database) -> None:
    for cursor in ("!!!", "bm90IGEgY3Vyc29y"):
        with pytest.raises(InvalidCursor):
            await list_deployments(database, ListingRequest.parse(None, None, cursor))
