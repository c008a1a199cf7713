"""Queries on API keys. Only HMACs of keys are stored; the key itself is never written anywhere."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.deployments import LIVE, deployment_from_row
from clara_runner.store.records import DeploymentRecord, KeyRecord
from clara_runner.store.tables import api_keys, deployments


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
            quota_id=quota_id or key_id,
        )
    )


async def live_keys_by_lookup(
    conn: AsyncConnection, lookup_id: str, now: datetime
) -> Sequence[tuple[KeyRecord, DeploymentRecord]]:
    """Unrevoked, unexpired keys with this lookup id whose deployment is live, with that deployment."""
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
        .where(
            api_keys.c.lookup_id == lookup_id,
            api_keys.c.revoked_at.is_(None),
            (api_keys.c.expires_at.is_(None)) | (api_keys.c.expires_at > now),
            deployments.c.state == LIVE,
        )
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


async def revoke_all(conn: AsyncConnection, deployment_id: uuid.UUID, now: datetime) -> uuid.UUID | None:
    """Revoke every live key of the deployment; return the quota of the newest of them, if there was one."""
    revoked = (
        await conn.execute(
            update(api_keys)
            .where(api_keys.c.deployment_id == deployment_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
            .returning(api_keys.c.id, api_keys.c.quota_id, api_keys.c.created_at)
        )
    ).all()
    if not revoked:
        return None
    newest = max(revoked, key=lambda row: row.created_at)
    quota: uuid.UUID = newest.quota_id or newest.id
    return quota


async def touch(conn: AsyncConnection, key_id: uuid.UUID, used_at: datetime) -> None:
    await conn.execute(update(api_keys).where(api_keys.c.id == key_id).values(last_used_at=used_at))
