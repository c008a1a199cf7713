"""Queries on deployments and their versions."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.records import DeploymentRecord, VersionRecord
from clara_runner.store.tables import deployment_versions, deployments

LIVE = "active"
DELETED = "deleted"


async def insert_deployment(
    conn: AsyncConnection,
    *,
    deployment_id: uuid.UUID,
    slug: str,
    name: str,
    description: str | None,
    user_id: str | None,
    workflow: Any,
    contract: dict[str, Any],
    now: datetime,
) -> None:
    """A new live deployment with its version 1; the write breaks a constraint if the slug is live elsewhere."""
    await conn.execute(
        insert(deployments).values(
            id=deployment_id,
            slug=slug,
            name=name,
            description=description,
            user_id=user_id,
            state=LIVE,
            current_version=1,
            execution_count=0,
            created_at=now,
            updated_at=now,
        )
    )
    await insert_version(conn, deployment_id, 1, workflow=workflow, contract=contract, now=now)


async def insert_version(
    conn: AsyncConnection,
    deployment_id: uuid.UUID,
    version: int,
    *,
    workflow: Any,
    contract: dict[str, Any],
    now: datetime,
) -> None:
    await conn.execute(
        insert(deployment_versions).values(
            deployment_id=deployment_id, version=version, workflow=workflow, contract=contract, created_at=now
        )
    )


async def live_slugs_like(conn: AsyncConnection, base: str) -> set[str]:
    """Live slugs equal to `base` or starting with `base-`, to pick a free suffix in one query."""
    pattern = base.replace("_", r"\_").replace("%", r"\%") + "-%"
    rows = await conn.execute(
        select(deployments.c.slug).where(
            deployments.c.state == LIVE,
            (deployments.c.slug == base) | deployments.c.slug.like(pattern, escape="\\"),
        )
    )
    return set(rows.scalars())


async def find_live(
    conn: AsyncConnection, *, slug: str | None = None, deployment_id: uuid.UUID | None = None
) -> DeploymentRecord | None:
    query = select(deployments).where(deployments.c.state == LIVE)
    if slug is not None:
        query = query.where(deployments.c.slug == slug)
    if deployment_id is not None:
        query = query.where(deployments.c.id == deployment_id)
    row = (await conn.execute(query)).mappings().first()
    return deployment_from_row(row) if row is not None else None


async def list_live(
    conn: AsyncConnection, *, user_id: str | None, limit: int, offset: int
) -> Sequence[DeploymentRecord]:
    query = select(deployments).where(deployments.c.state == LIVE)
    if user_id is not None:
        query = query.where(deployments.c.user_id == user_id)
    query = query.order_by(deployments.c.created_at.desc(), deployments.c.id).limit(limit).offset(offset)
    return [deployment_from_row(row) for row in (await conn.execute(query)).mappings()]


async def get_version(conn: AsyncConnection, deployment_id: uuid.UUID, version: int) -> VersionRecord | None:
    row = (
        (
            await conn.execute(
                select(deployment_versions).where(
                    deployment_versions.c.deployment_id == deployment_id,
                    deployment_versions.c.version == version,
                )
            )
        )
        .mappings()
        .first()
    )
    if row is None:
        return None
    return VersionRecord(
        deployment_id=row["deployment_id"],
        version=row["version"],
        workflow=row["workflow"],
        contract=row["contract"],
        created_at=row["created_at"],
    )


async def soft_delete(conn: AsyncConnection, deployment_id: uuid.UUID, now: datetime) -> bool:
    result = await conn.execute(
        update(deployments)
        .where(deployments.c.id == deployment_id, deployments.c.state == LIVE)
        .values(state=DELETED, deleted_at=now, updated_at=now)
    )
    return result.rowcount > 0


async def add_usage(conn: AsyncConnection, deployment_id: uuid.UUID, count: int, last_at: datetime) -> None:
    """Add `count` executions to the counters; called by the batched usage recorder, not per request."""
    await conn.execute(
        update(deployments)
        .where(deployments.c.id == deployment_id)
        .values(
            execution_count=deployments.c.execution_count + count,
            last_executed_at=func.coalesce(
                func.max(deployments.c.last_executed_at, last_at)
                if conn.dialect.name == "sqlite"
                else func.greatest(deployments.c.last_executed_at, last_at),
                last_at,
            ),
        )
    )


async def add_output_mismatch(conn: AsyncConnection, deployment_id: uuid.UUID) -> None:
    """Count one execution whose outputs did not match the published output schema."""
    await conn.execute(
        update(deployments)
        .where(deployments.c.id == deployment_id)
        .values(output_schema_mismatches=deployments.c.output_schema_mismatches + 1)
    )


def deployment_from_row(row: Any) -> DeploymentRecord:
    return DeploymentRecord(
        id=row["id"],
        slug=row["slug"],
        name=row["name"],
        description=row["description"],
        user_id=row["user_id"],
        state=row["state"],
        current_version=row["current_version"],
        execution_count=row["execution_count"],
        last_executed_at=row["last_executed_at"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        output_schema_mismatches=row["output_schema_mismatches"],
        rate_limit=row["rate_limit"],
        max_concurrency=row["max_concurrency"],
        callbacks_allowed=row["callbacks_allowed"],
        usage_budget=row["usage_budget"],
        retry_policy=row["retry_policy"],
    )


async def set_traffic_options(conn: AsyncConnection, deployment_id: uuid.UUID, values: dict[str, Any]) -> None:
    """Set the deployment's traffic columns named in `values` (`rate_limit`, `max_concurrency`,
    `callbacks_allowed`, `usage_budget`, `retry_policy`)."""
    await conn.execute(update(deployments).where(deployments.c.id == deployment_id).values(**values))
