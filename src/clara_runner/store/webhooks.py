"""Queries on webhook endpoints, their delivery rows and runs' waiting callbacks.

A delivery row is the whole state of a delivery: the deliverer claims due rows for a while
(`claim_due`), sends them, and writes each attempt back under its claim (`record_attempt`), so any number
of processes can deliver from the same table and a restart loses nothing.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, exists, insert, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store import leases
from clara_runner.store.tables import (
    UNFINISHED,
    deployments,
    execution_callbacks,
    executions,
    webhook_deliveries,
    webhooks,
)

PENDING = "pending"
DELIVERING = "delivering"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True, slots=True)
class WebhookRecord:
    id: uuid.UUID
    deployment_id: uuid.UUID
    url: str
    events: list[str]
    secret: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FinishedRunRecord:
    """A final execution row, as much of it as a webhook payload tells, with its deployment's slug."""

    id: uuid.UUID
    deployment_id: uuid.UUID
    slug: str
    version: int
    status: str
    outputs: Any
    error_code: str | None
    error_message: str | None
    duration_ms: int | None
    created_at: datetime
    finished_at: datetime | None


@dataclass(frozen=True, slots=True)
class NewDelivery:
    id: uuid.UUID
    webhook_id: uuid.UUID | None
    execution_id: uuid.UUID
    deployment_id: uuid.UUID
    url: str
    event: str
    payload: str


@dataclass(frozen=True, slots=True)
class DeliveryRecord:
    id: uuid.UUID
    webhook_id: uuid.UUID | None
    execution_id: uuid.UUID
    deployment_id: uuid.UUID
    url: str
    event: str
    payload: str
    state: str
    attempts: int
    next_attempt_at: datetime | None
    last_status_code: int | None
    last_error: str | None
    attempt_log: list[dict[str, Any]]
    created_at: datetime
    updated_at: datetime
    secret: str | None = None
    """The webhook's signing secret (claimed webhook deliveries only; a callback's is derived)."""


@dataclass(frozen=True, slots=True)
class AttemptResult:
    """What one attempt changes on its delivery row."""

    state: str
    next_attempt_at: datetime | None
    status_code: int | None
    error: str | None
    attempt_log: list[dict[str, Any]]


async def insert_webhook(conn: AsyncConnection, record: WebhookRecord) -> None:
    await conn.execute(
        insert(webhooks).values(
            id=record.id,
            deployment_id=record.deployment_id,
            url=record.url,
            events=record.events,
            secret=record.secret,
            created_at=record.created_at,
        )
    )


async def list_webhooks(conn: AsyncConnection, deployment_id: uuid.UUID | None = None) -> list[WebhookRecord]:
    """The webhooks of one deployment (oldest first), or of every live deployment when `deployment_id` is None."""
    query = select(webhooks).order_by(webhooks.c.created_at, webhooks.c.id)
    if deployment_id is not None:
        query = query.where(webhooks.c.deployment_id == deployment_id)
    else:
        query = query.join(deployments, deployments.c.id == webhooks.c.deployment_id).where(
            deployments.c.state == "active"
        )
    return [_webhook(row) for row in (await conn.execute(query)).mappings()]


async def deployments_with_webhooks(conn: AsyncConnection) -> set[uuid.UUID]:
    return set((await conn.execute(select(webhooks.c.deployment_id).distinct())).scalars())


async def delete_webhook(conn: AsyncConnection, deployment_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    """Delete the webhook and (by cascade) its deliveries, those still due included."""
    result = await conn.execute(
        delete(webhooks).where(webhooks.c.id == webhook_id, webhooks.c.deployment_id == deployment_id)
    )
    return result.rowcount > 0


async def webhook_exists(conn: AsyncConnection, deployment_id: uuid.UUID, webhook_id: uuid.UUID) -> bool:
    query = select(webhooks.c.id).where(webhooks.c.id == webhook_id, webhooks.c.deployment_id == deployment_id)
    return (await conn.execute(query)).first() is not None


async def insert_deliveries(conn: AsyncConnection, rows: Sequence[NewDelivery], now: datetime) -> int:
    """Insert pending deliveries, due now; a row whose run already has one for that endpoint is skipped
    (the unique indexes), so the live path and the sweep may both try. Returns how many were new."""
    if not rows:
        return 0
    values: list[dict[str, Any]] = [
        {
            "id": row.id,
            "webhook_id": row.webhook_id,
            "execution_id": row.execution_id,
            "deployment_id": row.deployment_id,
            "url": row.url,
            "event": row.event,
            "payload": row.payload,
            "state": PENDING,
            "attempts": 0,
            "next_attempt_at": now,
            "attempt_log": [],
            "created_at": now,
            "updated_at": now,
        }
        for row in rows
    ]
    dialect_insert = postgresql.insert if conn.dialect.name == "postgresql" else sqlite.insert
    statement = dialect_insert(webhook_deliveries).values(values).on_conflict_do_nothing()
    inserted = await conn.execute(statement.returning(webhook_deliveries.c.id))
    return len(inserted.all())


async def insert_callback(
    conn: AsyncConnection, execution_id: uuid.UUID, deployment_id: uuid.UUID, url: str, now: datetime
) -> None:
    await conn.execute(
        insert(execution_callbacks).values(
            execution_id=execution_id, deployment_id=deployment_id, url=url, created_at=now
        )
    )


async def take_callback(conn: AsyncConnection, execution_id: uuid.UUID) -> str | None:
    """Remove the run's waiting callback and return its URL (None: there was none)."""
    result = await conn.execute(
        delete(execution_callbacks)
        .where(execution_callbacks.c.execution_id == execution_id)
        .returning(execution_callbacks.c.url)
    )
    url: str | None = result.scalar_one_or_none()
    return url


_RUN_COLUMNS = (
    executions.c.id,
    executions.c.deployment_id,
    deployments.c.slug,
    executions.c.version,
    executions.c.status,
    executions.c.outputs,
    executions.c.error_code,
    executions.c.error_message,
    executions.c.duration_ms,
    executions.c.created_at,
    executions.c.finished_at,
)


def _run(row: Any) -> FinishedRunRecord:
    return FinishedRunRecord(**{column.name: row[column.name] for column in _RUN_COLUMNS})


async def runs_missing_deliveries(
    conn: AsyncConnection, webhook: WebhookRecord, *, succeeded: bool | None, since: datetime, limit: int
) -> list[FinishedRunRecord]:
    """Final runs of the webhook's deployment, started since `since` and finished after the webhook was
    created, with the outcome it asks for (`succeeded` None: any), that have no delivery to it yet."""
    delivered = exists().where(
        webhook_deliveries.c.execution_id == executions.c.id, webhook_deliveries.c.webhook_id == webhook.id
    )
    query = (
        select(*_RUN_COLUMNS)
        .join(deployments, deployments.c.id == executions.c.deployment_id)
        .where(
            executions.c.deployment_id == webhook.deployment_id,
            executions.c.created_at >= since,
            executions.c.status.not_in(UNFINISHED),
            executions.c.finished_at >= webhook.created_at,
            ~delivered,
        )
        .order_by(executions.c.created_at)
        .limit(limit)
    )
    if succeeded is not None:
        query = query.where((executions.c.status == "success") if succeeded else (executions.c.status != "success"))
    return [_run(row) for row in (await conn.execute(query)).mappings()]


async def final_callbacks(conn: AsyncConnection, limit: int) -> list[tuple[str, FinishedRunRecord]]:
    """Waiting callbacks whose run is final, with the run."""
    query = (
        select(execution_callbacks.c.url, *_RUN_COLUMNS)
        .join(executions, executions.c.id == execution_callbacks.c.execution_id)
        .join(deployments, deployments.c.id == executions.c.deployment_id)
        .where(executions.c.status.not_in(UNFINISHED))
        .limit(limit)
    )
    return [(row["url"], _run(row)) for row in (await conn.execute(query)).mappings()]


async def delete_callbacks(conn: AsyncConnection, execution_ids: Sequence[uuid.UUID]) -> None:
    await conn.execute(delete(execution_callbacks).where(execution_callbacks.c.execution_id.in_(execution_ids)))


async def prune_orphan_callbacks(conn: AsyncConnection, before: datetime) -> int:
    """Delete callbacks registered before `before` whose run never got a row (refused or lost before it
    was recorded): nothing will ever finish them."""
    recorded = exists().where(executions.c.id == execution_callbacks.c.execution_id)
    result = await conn.execute(delete(execution_callbacks).where(execution_callbacks.c.created_at < before, ~recorded))
    return result.rowcount


async def claim_due(
    conn: AsyncConnection, owner_id: uuid.UUID, now: datetime, locked_until: datetime, limit: int
) -> list[DeliveryRecord]:
    """Claim up to `limit` deliveries due now, and those whose earlier claim lapsed, until `locked_until`.
    A claim lapses when it expires or when its owner's process lease does (the process died mid-attempt:
    its deliveries come back within the lease, not the longer claim). PostgreSQL skips rows another
    replica is claiming at the same moment; SQLite has one writer at a time anyway."""
    lapsed = or_(webhook_deliveries.c.locked_until < now, leases.owner_gone(webhook_deliveries.c.owner_id, now))
    due = or_(
        and_(webhook_deliveries.c.state == PENDING, webhook_deliveries.c.next_attempt_at <= now),
        and_(webhook_deliveries.c.state == DELIVERING, lapsed),
    )
    chosen = (
        select(webhook_deliveries.c.id)
        .where(due)
        .order_by(webhook_deliveries.c.next_attempt_at)
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    claimed = await conn.execute(
        update(webhook_deliveries)
        .where(webhook_deliveries.c.id.in_(chosen.scalar_subquery()), due)
        .values(state=DELIVERING, owner_id=owner_id, locked_until=locked_until)
        .returning(webhook_deliveries.c.id)
    )
    ids = list(claimed.scalars())
    if not ids:
        return []
    query = (
        select(webhook_deliveries, webhooks.c.secret)
        .outerjoin(webhooks, webhooks.c.id == webhook_deliveries.c.webhook_id)
        .where(webhook_deliveries.c.id.in_(ids))
    )
    return [_delivery(row) for row in (await conn.execute(query)).mappings()]


async def record_attempt(
    conn: AsyncConnection, delivery_id: uuid.UUID, owner_id: uuid.UUID, result: AttemptResult, now: datetime
) -> bool:
    """Write one attempt's outcome, only while `owner_id` still holds the claim (False: it was lost)."""
    written = await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.owner_id == owner_id,
            webhook_deliveries.c.state == DELIVERING,
        )
        .values(
            state=result.state,
            attempts=webhook_deliveries.c.attempts + 1,
            next_attempt_at=result.next_attempt_at,
            last_status_code=result.status_code,
            last_error=result.error,
            attempt_log=result.attempt_log,
            locked_until=None,
            owner_id=None,
            updated_at=now,
        )
    )
    return written.rowcount > 0


async def list_deliveries(
    conn: AsyncConnection, webhook_id: uuid.UUID, *, limit: int, offset: int
) -> list[DeliveryRecord]:
    query = (
        select(webhook_deliveries)
        .where(webhook_deliveries.c.webhook_id == webhook_id)
        .order_by(webhook_deliveries.c.created_at.desc(), webhook_deliveries.c.id)
        .limit(limit)
        .offset(offset)
    )
    return [_delivery(row) for row in (await conn.execute(query)).mappings()]


async def get_delivery(conn: AsyncConnection, webhook_id: uuid.UUID, delivery_id: uuid.UUID) -> DeliveryRecord | None:
    query = select(webhook_deliveries).where(
        webhook_deliveries.c.id == delivery_id, webhook_deliveries.c.webhook_id == webhook_id
    )
    row = (await conn.execute(query)).mappings().first()
    return None if row is None else _delivery(row)


async def requeue(conn: AsyncConnection, webhook_id: uuid.UUID, delivery_id: uuid.UUID, now: datetime) -> bool:
    """Make the delivery due now, unless an attempt of it is under way (False then, or when not found)."""
    result = await conn.execute(
        update(webhook_deliveries)
        .where(
            webhook_deliveries.c.id == delivery_id,
            webhook_deliveries.c.webhook_id == webhook_id,
            webhook_deliveries.c.state != DELIVERING,
        )
        .values(state=PENDING, next_attempt_at=now, updated_at=now)
    )
    return result.rowcount > 0


def _webhook(row: Any) -> WebhookRecord:
    return WebhookRecord(
        id=row["id"],
        deployment_id=row["deployment_id"],
        url=row["url"],
        events=list(row["events"]),
        secret=row["secret"],
        created_at=row["created_at"],
    )


def _delivery(row: Any) -> DeliveryRecord:
    return DeliveryRecord(
        id=row["id"],
        webhook_id=row["webhook_id"],
        execution_id=row["execution_id"],
        deployment_id=row["deployment_id"],
        url=row["url"],
        event=row["event"],
        payload=row["payload"],
        state=row["state"],
        attempts=row["attempts"],
        next_attempt_at=row["next_attempt_at"],
        last_status_code=row["last_status_code"],
        last_error=row["last_error"],
        attempt_log=list(row["attempt_log"]),
        created_at=row["created_at"],
        updated_at=row["updated_at"],
        secret=row.get("secret"),
    )
