"""Issuing a deployment's API key: generated here, stored as its HMAC, shown to the caller once."""

from __future__ import annotations

import uuid
from datetime import datetime

from clara_runner.security import api_keys
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Connection


async def issue_key(
    conn: Connection, secret: bytes, deployment_id: uuid.UUID, now: datetime, quota_id: uuid.UUID | None = None
) -> str:
    """Store a new key for the deployment (in the caller's transaction) and return its plaintext; it draws
    on `quota_id`'s rate-limit count (a key it replaces), or on a count of its own."""
    issued = api_keys.generate()
    await key_queries.insert_key(
        conn,
        key_id=uuid.uuid4(),
        deployment_id=deployment_id,
        name="default",
        lookup_id=issued.lookup_id,
        key_hash=api_keys.key_hash(secret, issued.plaintext),
        display_prefix=issued.display_prefix,
        now=now,
        quota_id=quota_id,
    )
    return issued.plaintext
