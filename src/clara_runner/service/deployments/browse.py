"""The Deployment Manager's list: search by name or slug, filter by state, page by cursor.

A cursor is the first or last row's position (`store/browse.py`), written as opaque URL-safe text so
the page links stay valid whatever is deployed meanwhile: a new deployment never shifts a page.
"""

from __future__ import annotations

import base64
import binascii
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from clara_runner.clock import utcnow
from clara_runner.errors import InvalidParameter
from clara_runner.store import browse as browse_queries
from clara_runner.store.browse import Position
from clara_runner.store.database import Database
from clara_runner.store.deployments import DELETED, LIVE
from clara_runner.store.records import DeploymentRecord

StateFilter = Literal["active", "deleted", "all"]
STATE_FILTERS: tuple[StateFilter, ...] = ("active", "deleted", "all")
MAX_SEARCH_LENGTH = 100
PAGE_SIZE = 25


class InvalidCursor(InvalidParameter):
    """A page link's cursor was altered or cut; go back to the first page."""

    code = "invalid_cursor"


@dataclass(frozen=True, slots=True)
class ListingRequest:
    state: StateFilter
    text: str
    after: Position | None
    before: Position | None

    @classmethod
    def parse(
        cls, state: str | None, text: str | None, after: str | None = None, before: str | None = None
    ) -> ListingRequest:
        chosen = state or "active"
        if chosen not in STATE_FILTERS:
            raise InvalidParameter(f"state must be one of: {', '.join(STATE_FILTERS)} (got '{chosen[:40]}')")
        search = (text or "").strip()
        if len(search) > MAX_SEARCH_LENGTH:
            raise InvalidParameter(f"The search text must be {MAX_SEARCH_LENGTH} characters or less")
        return cls(chosen, search, _position(after), _position(before))


@dataclass(frozen=True, slots=True)
class Listed:
    deployment: DeploymentRecord
    key_prefixes: Sequence[str]


@dataclass(frozen=True, slots=True)
class Listing:
    items: Sequence[Listed]
    next_cursor: str | None
    """The cursor of the next (older) page, when there is one."""
    previous_cursor: str | None
    """The cursor of the previous (newer) page, when this is not the first."""


async def list_deployments(database: Database, request: ListingRequest, page_size: int = PAGE_SIZE) -> Listing:
    state = {"active": LIVE, "deleted": DELETED, "all": None}[request.state]
    async with database.read() as conn:
        rows = await browse_queries.browse(
            conn,
            state=state,
            text=request.text,
            limit=page_size + 1,
            after=request.after,
            before=request.before,
        )
        if request.before is not None:
            more_newer, rows = len(rows) > page_size, rows[-page_size:]
            more_older = True
        else:
            more_older, rows = len(rows) > page_size, rows[:page_size]
            more_newer = request.after is not None
        prefixes = await browse_queries.key_prefixes(conn, [row.id for row in rows], utcnow())
    items = [Listed(row, prefixes.get(row.id, [])) for row in rows]
    return Listing(
        items,
        next_cursor=cursor(rows[-1]) if rows and more_older else None,
        previous_cursor=cursor(rows[0]) if rows and more_newer else None,
    )


def cursor(record: DeploymentRecord) -> str:
    text = f"{record.created_at.isoformat()}|{record.id}"
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


def _position(text: str | None) -> Position | None:
    if not text:
        return None
    try:
        decoded = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode()
        created_at, identifier = decoded.split("|", 1)
        return Position(datetime.fromisoformat(created_at), uuid.UUID(identifier))
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise InvalidCursor("This page link is no longer valid; start again from the first page") from exc
