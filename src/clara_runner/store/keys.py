"""Queries on API keys. Only HMACs of keys are stored; the key itself is never written anywhere."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import case, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.deployments import LIVE, deployment_from_row
from clara_runner.store.records import DeploymentRecord, KeyRecord
from clara_runner.store.tables import api_keys, deployments


@dataclass(frozen=True, slots=True)
class KeyListing:
    """A key as its deployment's admin sees it: never its hash, never the key."""

    id: uuid.UUID
    name: str
    display_prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None
    """When the key stopped (or, regenerated with an overlap, will stop) working."""


async def insert_key(
    conn: AsyncConnection,
    *,
    key_id: uuid.UUID,
    deployment_id: uuid.UUID,
    name: str,
    lookup_id: str,
    key_hash: str,
    display_prefix: str,
    now: datetime,
    quota_id: uuid.UUID | None = None,
    expires_at: datetime | None = None,
) -> None:
    await conn.execute(
        insert(api_keys).values(
            id=key_id,
            deployment_id=deployment_id,
            name=name,
            lookup_id=lookup_id,
            key_hash=key_hash,
            display_prefix=display_prefix,
            created_at=now,
            expires_at=expires_at,
            quota_id=quota_id or key_id,
        )
    )


async def keys_by_lookup(conn: AsyncConnection, lookup_id: str) -> Sequence[tuple[KeyRecord, DeploymentRecord]]:
    """The keys with this lookup id whose deployment is live, with that deployment, revoked and expired ones
    included: the caller tells a revoked or expired key from an unknown one, and judges both at the time of
    each request, so a cached key stops working the moment it expires or its overlap ends."""
    query = (
        select(
            deployments,
            api_keys.c.id.label("key_id"),
            api_keys.c.key_hash,
            api_keys.c.expires_at,
            api_keys.c.revoked_at,
            api_keys.c.quota_id,
        )
        .select_from(api_keys)
        .join(deployments, deployments.c.id == api_keys.c.deployment_id)
        .where(api_keys.c.lookup_id == lookup_id, deployments.c.state == LIVE)
    )
    rows = (await conn.execute(query)).mappings()
    return [
        (
            KeyRecord(
                id=row["key_id"],
                deployment_id=row["id"],
                key_hash=row["key_hash"],
                expires_at=row["expires_at"],
                revoked_at=row["revoked_at"],
                quota_id=row["quota_id"] or row["key_id"],
            ),
            deployment_from_row(row),
        )
        for row in rows
    ]


async def revoke_all(
    conn: AsyncConnection, deployment_id: uuid.UUID, now: datetime, until: datetime | None = None
) -> uuid.UUID | None:
    """Revoke every working key of the deployment as of `until` (now when None; a later time keeps them
    working that long); a key already due to stop earlier keeps its earlier time. Return the quota of the
    newest of them, if there was one."""
    until = until or now
    revoked = (
        await conn.execute(
            update(api_keys)
            .where(
                api_keys.c.deployment_id == deployment_id,
                api_keys.c.revoked_at.is_(None) | (api_keys.c.revoked_at > now),
            )
            .values(revoked_at=case((api_keys.c.revoked_at < until, api_keys.c.revoked_at), else_=until))
            .returning(api_keys.c.id, api_keys.c.quota_id, api_keys.c.created_at)
        )
    ).all()
    if not revoked:
        return None
    newest = max(revoked, key=lambda row: row.created_at)
    quota: uuid.UUID = newest.quota_id or newest.id
    return quota


async def revoke(conn: AsyncConnection, deployment_id: uuid.UUID, key_id: uuid.UUID, now: datetime) -> bool:
    """Revoke one key of the deployment now, unless it already stopped working; False if it has no such key."""
    result = await conn.execute(
        update(api_keys)
        .where(api_keys.c.id == key_id, api_keys.c.deployment_id == deployment_id)
        .values(revoked_at=case((api_keys.c.revoked_at <= now, api_keys.c.revoked_at), else_=now))
    )
    return bool(result.rowcount)


_LISTED = (
    api_keys.c.id,
    api_keys.c.name,
    api_keys.c.display_prefix,
    api_keys.c.created_at,
    api_keys.c.last_used_at,
    api_keys.c.expires_at,
    api_keys.c.revoked_at,
)


async def find(conn: AsyncConnection, deployment_id: uuid.UUID, key_id: uuid.UUID) -> KeyListing | None:
    query = select(*_LISTED).where(api_keys.c.id == key_id, api_keys.c.deployment_id == deployment_id)
    row = (await conn.execute(query)).first()
    return None if row is None else KeyListing(*row)


async def list_keys(conn: AsyncConnection, deployment_id: uuid.UUID, *, limit: int, offset: int) -> list[KeyListing]:
    """The deployment's keys, newest first (the deployment index finds them)."""
    query = (
        select(*_LISTED)
        .where(api_keys.c.deployment_id == deployment_id)
        .order_by(api_keys.c.created_at.desc(), api_keys.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [KeyListing(*row) for row in await conn.execute(query)]


async def touch(conn: AsyncConnection, key_id: uuid.UUID, used_at: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=used_at))
