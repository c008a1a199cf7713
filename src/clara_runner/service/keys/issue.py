"""Issuing a deployment's API key: generated here, stored as its HMAC, shown to the caller once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from clara_runner.security import api_keys
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Connection
from clara_runner.store.keys import KeyListing

DEFAULT_NAME = "default"
"""The name of the key deploy and regenerate issue."""


@dataclass(frozen=True, slots=True)
class NewKey:
    """A key just issued: `plaintext` exists only in this answer."""

    listing: KeyListing
    plaintext: str


async def issue(
    conn: Connection,
    secret: bytes,
    deployment_id: uuid.UUID,
    now: datetime,
    *,
    name: str = DEFAULT_NAME,
    expires_at: datetime | None = None,
    quota_id: uuid.UUID | None = None,
) -> NewKey:
    """Store a new key for the deployment (in the caller's transaction); it draws on `quota_id`'s rate-limit
    count (a key it replaces), or on a count of its own."""
    generated = api_keys.generate()
    key_id = uuid.uuid4()
    await key_queries.insert_key(
        conn,
        key_id=key_id,
        deployment_id=deployment_id,
        name=name,
        lookup_id=generated.lookup_id,
        key_hash=api_keys.key_hash(secret, generated.plaintext),
        display_prefix=generated.display_prefix,
        now=now,
        quota_id=quota_id,
        expires_at=expires_at,
    )
    listing = KeyListing(key_id, name, generated.display_prefix, now, None, expires_at, None)
    return NewKey(listing, generated.plaintext)


async def issue_key(
    conn: Connection, secret: bytes, deployment_id: uuid.UUID, now: datetime, quota_id: uuid.UUID | None = None
) -> str:
    """The plaintext of a new key named `default` (deploy's and regenerate's)."""
    return (await issue(conn, secret, deployment_id, now, quota_id=quota_id)).plaintext
