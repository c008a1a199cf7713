"""The Deployment Manager's listing: deployments by state and text, newest first, a page at a time.

Pages are cut by keyset (the last row's `created_at` and `id`), not by offset: page 500 of 10,000
deployments costs what page 1 does, walking `ix_deployments_created_at` from the cursor on.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.elements import ColumnElement

from clara_runner.store.deployments import deployment_from_row
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.tables import api_keys, deployments


@dataclass(frozen=True, slots=True)
class Position:
    """Where a page starts or ends: a row's `created_at` and `id` (the listing's order)."""

    created_at: datetime
    id: uuid.UUID


async def browse(
    conn: AsyncConnection,
    *,
    state: str | None,
    text: str | None,
    limit: int,
    after: Position | None = None,
    before: Position | None = None,
) -> Sequence[DeploymentRecord]:
    """Up to `limit` deployments newest first: those older than `after`, or the `limit` newest of those
    newer than `before` (the previous page), in `state` (None: any) whose name or slug contains `text`."""
    query = select(deployments)
    if state is not None:
        query = query.where(deployments.c.state == state)
    if text:
        pattern = "%" + text.lower().replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
        query = query.where(
            or_(
                func.lower(deployments.c.name).like(pattern, escape="\\"),
                deployments.c.slug.like(pattern, escape="\\"),
            )
        )
    newest_first = (deployments.c.created_at.desc(), deployments.c.id.desc())
    if before is not None:
        query = query.where(_newer(before)).order_by(deployments.c.created_at, deployments.c.id).limit(limit)
        rows = [deployment_from_row(row) for row in (await conn.execute(query)).mappings()]
        return rows[::-1]
    if after is not None:
        query = query.where(_older(after))
    query = query.order_by(*newest_first).limit(limit)
    return [deployment_from_row(row) for row in (await conn.execute(query)).mappings()]


def _newer(position: Position) -> ColumnElement[bool]:
    return or_(
        deployments.c.created_at > position.created_at,
        and_(deployments.c.created_at == position.created_at, deployments.c.id > position.id),
    )


def _older(position: Position) -> ColumnElement[bool]:
    return or_(
        deployments.c.created_at < position.created_at,
        and_(deployments.c.created_at == position.created_at, deployments.c.id < position.id),
    )


async def key_prefixes(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], now: datetime
) -> dict[uuid.UUID, list[str]]:
    """The display prefixes of each deployment's usable keys (not revoked, not expired), oldest first."""
    if not deployment_ids:
        return {}
    query = (
        select(api_keys.c.deployment_id, api_keys.c.display_prefix)
        .where(
            api_keys.c.deployment_id.in_(deployment_ids),
            api_keys.c.revoked_at.is_(None),
            or_(api_keys.c.expires_at.is_(None), api_keys.c.expires_at > now),
        )
        .order_by(api_keys.c.created_at)
    )
    found: dict[uuid.UUID, list[str]] = {}
    for row in await conn.execute(query):
        found.setdefault(row.deployment_id, []).append(row.display_prefix)
    return found
