"""Token use and cost summed over executions: per key of a deployment since a moment (budgets, the usage
report). A key regenerated from another shares its quota (`api_keys.quota_id`), and so its use."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import api_keys, executions

_quota_of_key = func.coalesce(api_keys.c.quota_id, api_keys.c.id)


@dataclass(frozen=True, slots=True)
class KeyUsage:
    key_id: uuid.UUID
    quota_id: uuid.UUID
    name: str
    display_prefix: str
    revoked: bool
    executions: int
    prompt_tokens: int
    completion_tokens: int
    cost_micros: int | None


async def tokens_used(conn: AsyncConnection, deployment_id: uuid.UUID, quota_id: uuid.UUID, since: datetime) -> int:
    """Prompt and completion tokens of the deployment's executions since `since` by keys of this quota."""
    query = (
        select(func.coalesce(func.sum(executions.c.prompt_tokens + executions.c.completion_tokens), 0))
        .select_from(executions.join(api_keys, api_keys.c.id == executions.c.api_key_id))
        .where(
            executions.c.deployment_id == deployment_id,
            executions.c.created_at >= since,
            _quota_of_key == quota_id,
        )
    )
    return int((await conn.execute(query)).scalar_one())


async def usage_by_key(conn: AsyncConnection, deployment_id: uuid.UUID, since: datetime) -> list[KeyUsage]:
    """Every key of the deployment with its executions, tokens and cost since `since` (zeros when unused)."""
    counted = (
        select(
            executions.c.api_key_id,
            func.count().label("runs"),
            func.coalesce(func.sum(executions.c.prompt_tokens), 0).label("prompt"),
            func.coalesce(func.sum(executions.c.completion_tokens), 0).label("completion"),
            func.sum(executions.c.cost_micros).label("cost"),
        )
        .where(executions.c.deployment_id == deployment_id, executions.c.created_at >= since)
        .group_by(executions.c.api_key_id)
        .subquery()
    )
    query = (
        select(api_keys, counted.c.runs, counted.c.prompt, counted.c.completion, counted.c.cost)
        .select_from(api_keys.outerjoin(counted, counted.c.api_key_id == api_keys.c.id))
        .where(api_keys.c.deployment_id == deployment_id)
        .order_by(api_keys.c.created_at, api_keys.c.id)
    )
    return [
        KeyUsage(
            key_id=row["id"],
            quota_id=row["quota_id"] or row["id"],
            name=row["name"],
            display_prefix=row["display_prefix"],
            revoked=row["revoked_at"] is not None,
            executions=int(row["runs"] or 0),
            prompt_tokens=int(row["prompt"] or 0),
            completion_tokens=int(row["completion"] or 0),
            cost_micros=None if row["cost"] is None else int(row["cost"]),
        )
        for row in (await conn.execute(query)).mappings()
    ]
