"""Queries on the immutable versions of a deployment and on which one is current."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.deployments import LIVE
from clara_runner.store.records import VersionSummaryRecord
from clara_runner.store.tables import deployment_versions, deployments


async def lock_deployment(conn: AsyncConnection, deployment_id: uuid.UUID) -> int | None:
    """The current version of a live deployment, its row locked until the transaction ends.

    On PostgreSQL this is `SELECT ... FOR UPDATE`, so two transactions adding a version queue here
    instead of computing the same next number. SQLite write transactions are already exclusive
    (`BEGIN IMMEDIATE`), and SQLAlchemy renders no `FOR UPDATE` there.
    """
    query = (
        select(deployments.c.current_version)
        .where(deployments.c.id == deployment_id, deployments.c.state == LIVE)
        .with_for_update()
    )
    current: int | None = (await conn.execute(query)).scalar_one_or_none()
    return current


async def latest_version(conn: AsyncConnection, deployment_id: uuid.UUID) -> int:
    query = select(func.max(deployment_versions.c.version)).where(deployment_versions.c.deployment_id == deployment_id)
    latest: int | None = (await conn.execute(query)).scalar_one()
    return latest or 0


async def version_exists(conn: AsyncConnection, deployment_id: uuid.UUID, version: int) -> bool:
    query = select(deployment_versions.c.version).where(
        deployment_versions.c.deployment_id == deployment_id, deployment_versions.c.version == version
    )
    return (await conn.execute(query)).first() is not None


async def set_current_version(
    conn: AsyncConnection,
    deployment_id: uuid.UUID,
    version: int,
    now: datetime,
    *,
    name: str | None = None,
    description: str | None = None,
) -> None:
    """Point the deployment at `version`; a new `name` or `description`, when given, replaces the old."""
    changes: dict[str, object] = {"current_version": version, "updated_at": now}
    if name is not None:
        changes["name"] = name
    if description is not None:
        changes["description"] = description
    await conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(**changes))


async def list_versions(
    conn: AsyncConnection, deployment_id: uuid.UUID, *, limit: int, offset: int
) -> Sequence[VersionSummaryRecord]:
    """Versions newest first, with their contracts (small) but not their workflows (possibly large)."""
    query = (
        select(deployment_versions.c.version, deployment_versions.c.contract, deployment_versions.c.created_at)
        .where(deployment_versions.c.deployment_id == deployment_id)
        .order_by(deployment_versions.c.version.desc())
        .limit(limit)
        .offset(offset)
    )
    return [
        VersionSummaryRecord(version=row.version, contract=row.contract, created_at=row.created_at)
        for row in await conn.execute(query)
    ]
