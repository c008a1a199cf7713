"""A deployment's named API keys, for the admin: create (the key shown once), list, revoke, and the
overlap a regenerate may leave the keys it replaces.

A revoke takes effect at once in the process that served it; other processes and replicas drop their
cached copy within `KEY_CACHE_SECONDS` (`authenticate.py`). Expiry and the end of an overlap are judged
at every request, so they are exact everywhere.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, Literal

from clara_runner.clock import utcnow
from clara_runner.errors import KeyNotFound, ValidationFailed
from clara_runner.service.deployments.fields import text_field
from clara_runner.service.keys.authenticate import KeyAuthenticator
from clara_runner.service.keys.issue import NewKey, issue
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.service.pages import Page, PageRequest
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Database
from clara_runner.store.keys import KeyListing
from clara_runner.store.records import DeploymentRecord

NAME_LENGTH = 100
MAX_OVERLAP_SECONDS = 7 * 24 * 3600
"""The longest a regenerate keeps the replaced keys working: a week, time enough to roll out the new key."""

KeyStatus = Literal["active", "revoked", "expired"]


def key_status(key: KeyListing, now: datetime) -> KeyStatus:
    """Whether the key works at `now`: a key regenerated with an overlap is `active` until its `revokedAt`."""
    if key.revoked_at is not None and key.revoked_at <= now:
        return "revoked"
    if key.expires_at is not None and key.expires_at <= now:
        return "expired"
    return "active"


def parse_new_key(body: Any, now: datetime) -> tuple[str, datetime | None]:
    """The create body `{"name", "expiresAt"?}`: a name, and an expiry in the future (ISO 8601 with a zone)."""
    if not isinstance(body, Mapping):
        raise ValidationFailed(['Request body must be a JSON object: {"name": "...", "expiresAt": "<ISO 8601>"}'])
    problems = [f"unknown field '{field}': the fields are name and expiresAt" for field in body if field not in _FIELDS]
    name = text_field(body, "name", problems, max_length=NAME_LENGTH, required=True)
    expires_at = _future_time(body.get("expiresAt"), now, problems)
    if problems:
        raise ValidationFailed(problems)
    assert name is not None
    return name.strip(), expires_at


_FIELDS = frozenset({"name", "expiresAt"})


def _future_time(value: Any, now: datetime, problems: list[str]) -> datetime | None:
    if value is None:
        return None
    shape = "expiresAt must be an ISO 8601 date and time with a zone, such as 2030-01-31T00:00:00Z"
    if not isinstance(value, str):
        problems.append(shape)
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        problems.append(shape)
        return None
    if moment.tzinfo is None:
        problems.append(shape)
        return None
    if moment <= now:
        problems.append("expiresAt must be in the future")
        return None
    return moment


def parse_overlap(body: Any) -> timedelta:
    """The regenerate body: empty, or `{"overlapSeconds": N}` to keep the replaced keys working N seconds."""
    if body == {} or body is None:
        return timedelta()
    overlap = body.get("overlapSeconds") if isinstance(body, Mapping) else None
    if (
        not isinstance(body, Mapping)
        or set(body) - {"overlapSeconds"}
        or isinstance(overlap, bool)
        or not isinstance(overlap, int)
        or not 0 <= overlap <= MAX_OVERLAP_SECONDS
    ):
        raise ValidationFailed(
            [
                'Request body must be empty or {"overlapSeconds": N}, N an integer from 0 to '
                f"{MAX_OVERLAP_SECONDS}: how long the replaced keys keep working"
            ]
        )
    return timedelta(seconds=overlap)


class KeyAdmin:
    def __init__(self, database: Database, secret: ServerSecret, keys: KeyAuthenticator) -> None:
        self._database = database
        self._secret = secret
        self._keys = keys

    async def create(self, deployment: DeploymentRecord, body: Any) -> NewKey:
        """A new key of the deployment, with a rate-limit count of its own."""
        now = utcnow()
        name, expires_at = parse_new_key(body, now)
        secret = await self._secret.load()
        async with self._database.write() as conn:
            return await issue(conn, secret, deployment.id, now, name=name, expires_at=expires_at)

    async def list(self, deployment: DeploymentRecord, page: PageRequest) -> Page[KeyListing]:
        async with self._database.read() as conn:
            rows = await key_queries.list_keys(conn, deployment.id, limit=page.limit + 1, offset=page.offset)
        return Page.from_overfetch(rows, page)

    async def revoke(self, deployment: DeploymentRecord, key_id: uuid.UUID) -> KeyListing:
        """Revoke the key now (a key already revoked or expired is returned as it is)."""
        async with self._database.write() as conn:
            if not await key_queries.revoke(conn, deployment.id, key_id, utcnow()):
                raise KeyNotFound()
            found = await key_queries.find(conn, deployment.id, key_id)
        self._keys.forget(deployment.id)
        assert found is not None
        return found
