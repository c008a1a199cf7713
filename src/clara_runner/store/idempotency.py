"""Idempotency keys: a claim row per (deployment, API key, key), taken atomically.

`claim` inserts an in-progress row with `ON CONFLICT DO NOTHING`; exactly one of any number of
concurrent callers, in any process, inserts it (SQLite serialises write transactions; PostgreSQL makes
the loser wait for the winner's commit and then see the conflict). A row whose key expired, or whose
claim was abandoned (its owner's process lease expired, or it outlived any run it could be waiting
for: `locked_until`), is taken over with a conditional `UPDATE`, which is just as atomic. Completion
and release name the claim id, so a process whose claim was taken over cannot overwrite the newer one.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.leases import owner_gone
from clara_runner.store.tables import idempotency_keys

IN_PROGRESS = "in_progress"
COMPLETED = "completed"


@dataclass(frozen=True, slots=True)
class Scope:
    deployment_id: uuid.UUID
    api_key_id: uuid.UUID
    key: str

    def matches(self) -> ColumnElement[bool]:
        return and_(
            idempotency_keys.c.deployment_id == self.deployment_id,
            idempotency_keys.c.api_key_id == self.api_key_id,
            idempotency_keys.c.idempotency_key == self.key,
        )


@dataclass(frozen=True, slots=True)
class Held:
    """The row that holds a key someone else claimed."""

    fingerprint: str
    state: str
    response_status: int | None
    response_headers: dict[str, str] | None
    response_body: bytes | None


async def claim(
    conn: AsyncConnection,
    scope: Scope,
    *,
    fingerprint: str,
    claim_id: uuid.UUID,
    now: datetime,
    locked_until: datetime,
    expires_at: datetime,
    owner_id: uuid.UUID,
) -> Held | None:
    """Claim the key for this request: None when the claim is ours, else the row that holds the key."""
    fresh: dict[str, Any] = {
        "fingerprint": fingerprint,
        "claim_id": claim_id,
        "state": IN_PROGRESS,
        "response_status": None,
        "response_headers": None,
        "response_body": None,
        "created_at": now,
        "locked_until": locked_until,
        "expires_at": expires_at,
        "owner_id": owner_id,
    }
    dialect: Any = postgresql if conn.dialect.name == "postgresql" else sqlite
    inserted = await conn.execute(
        dialect.insert(idempotency_keys)
        .values(deployment_id=scope.deployment_id, api_key_id=scope.api_key_id, idempotency_key=scope.key, **fresh)
        .on_conflict_do_nothing()
        .returning(idempotency_keys.c.claim_id)
    )
    if inserted.first() is not None:
        return None
    reclaimable = or_(
        idempotency_keys.c.expires_at <= now,
        and_(
            idempotency_keys.c.state == IN_PROGRESS,
            idempotency_keys.c.fingerprint == fingerprint,
            or_(idempotency_keys.c.locked_until <= now, owner_gone(idempotency_keys.c.owner_id, now)),
        ),
    )
    taken = await conn.execute(update(idempotency_keys).where(scope.matches(), reclaimable).values(**fresh))
    if taken.rowcount == 1:
        return None
    row = (await conn.execute(select(idempotency_keys).where(scope.matches()))).mappings().one()
    return Held(
        fingerprint=row["fingerprint"],
        state=row["state"],
        response_status=row["response_status"],
        response_headers=row["response_headers"],
        response_body=row["response_body"],
    )


async def complete(
    conn: AsyncConnection, scope: Scope, claim_id: uuid.UUID, status: int, headers: dict[str, str], body: bytes
) -> bool:
    """Store the response of a claimed request; False if the claim is no longer ours."""
    result = await conn.execute(
        update(idempotency_keys)
        .where(scope.matches(), idempotency_keys.c.claim_id == claim_id)
        .values(state=COMPLETED, response_status=status, response_headers=headers, response_body=body)
    )
    return result.rowcount == 1


async def release(conn: AsyncConnection, scope: Scope, claim_id: uuid.UUID) -> None:
    """Give the key up so the request can be retried with it."""
    await conn.execute(delete(idempotency_keys).where(scope.matches(), idempotency_keys.c.claim_id == claim_id))
