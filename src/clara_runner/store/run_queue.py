"""Queries on the runs of the queue backend (`queued_runs`, with their `executions` rows).

A queued run goes: `enqueue` (its `queued` row, its request and its job, in the web replica's transaction)
-> `claim` (a worker names its lease as the run's owner, so the lease sweep covers it from then on) ->
`mark_outbound` (before its first outbound call) -> `mark_started` / `store_reply` (read by the replica
relaying the run) -> deleted with its run. A run whose worker died (`requeue_orphans`), or that its worker
stops at shutdown (`hand_back`), goes back to the queue when its deployment's retry policy allows; else the
lease sweep, or the worker, records it `interrupted`.

Every change a relaying replica waits for is announced on `CHANNEL` (PostgreSQL LISTEN/NOTIFY) in the
transaction that makes it, with the run's id as payload: a notification is only ever seen once the change
is committed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import (
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    insert,
    null,
    or_,
    select,
    text,
    true,
    update,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store import rollups
from clara_runner.store.deployments import deployment_from_row
from clara_runner.store.leases import owner_gone
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.tables import (
    STATS_COLUMNS,
    UNFINISHED,
    WAITING_CONDITION,
    deployments,
    execution_events,
    executions,
    queued_runs,
)

CHANNEL = "clara_runs"
"""The LISTEN/NOTIFY channel on which run changes are announced (payload: run ids in hex, comma-separated)."""
_NOTIFY_BYTES = 7900
"""PostgreSQL refuses payloads of 8000 bytes or more: longer lists of ids are sent as several notifications."""

RETRY_UNSTARTED = "unstarted"
RETRY_ALWAYS = "always"
RETRY_NEVER = "never"
RETRY_POLICIES = (RETRY_UNSTARTED, RETRY_ALWAYS, RETRY_NEVER)


@dataclass(frozen=True, slots=True)
class QueuedRequest:
    """What a worker needs to run a queued execution: the request as the web replica received it."""

    execution_id: uuid.UUID
    deployment: DeploymentRecord
    api_key_id: uuid.UUID | None
    mode: str
    body: bytes
    content_type: str | None
    version_header: str | None
    callback_url: str | None


@dataclass(frozen=True, slots=True)
class RunState:
    """How far a queued run has got, as its relaying replica reads it."""

    status: str
    started_version: int | None
    reply_status: int | None
    reply_headers: dict[str, str] | None
    reply_body: bytes | None
    error_code: str | None
    error_message: str | None
    finished_at: datetime | None


async def announce(conn: AsyncConnection, execution_ids: Iterable[uuid.UUID]) -> None:
    """Tell the listening replicas that these runs changed (delivered when the transaction commits)."""
    payload: list[str] = []
    size = 0
    for execution_id in execution_ids:
        if size + 33 > _NOTIFY_BYTES:
            await _notify(conn, payload)
            payload, size = [], 0
        payload.append(execution_id.hex)
        size += 33
    if payload:
        await _notify(conn, payload)


async def _notify(conn: AsyncConnection, ids: list[str]) -> None:
    await conn.execute(text("SELECT pg_notify(:channel, :payload)"), {"channel": CHANNEL, "payload": ",".join(ids)})


async def keeps_event_log(conn: AsyncConnection, execution_id: uuid.UUID) -> bool:
    """Whether the run is a queued run that will log events (stream, async or wait mode), started or not."""
    query = select(queued_runs.c.mode).where(queued_runs.c.execution_id == execution_id)
    mode = (await conn.execute(query)).scalar_one_or_none()
    return mode is not None and mode != "sync"


@dataclass(frozen=True, slots=True)
class Waiting:
    """Runs waiting for a worker (queued, owned by none): the deployment's, and its flow's among them."""

    deployment: int
    flow: int
    """Those of the same API key (or, for a run without one, an admin's, those without a key)."""


async def waiting(conn: AsyncConnection, deployment_id: uuid.UUID, api_key_id: uuid.UUID | None) -> Waiting:
    """Count, in one query through the partial index on waiting runs (`ix_executions_waiting`: deployment,
    key; its condition is spelled as the index's so the planner uses it whatever the parameters), the
    deployment's runs waiting for a worker and those of the key among them."""
    same_flow = executions.c.api_key_id.is_(None) if api_key_id is None else executions.c.api_key_id == api_key_id
    query = select(func.count(), func.count().filter(same_flow)).where(
        executions.c.deployment_id == deployment_id, text(WAITING_CONDITION)
    )
    deployment, flow = (await conn.execute(query)).one()
    return Waiting(int(deployment), int(flow))


async def enqueue(conn: AsyncConnection, request: QueuedRequest, *, version: int, job_id: int, now: datetime) -> None:
    """Insert the run's `queued` row and its request (its job is deferred in the same transaction)."""
    await conn.execute(
        insert(executions).values(
            id=request.execution_id,
            deployment_id=request.deployment.id,
            version=version,
            api_key_id=request.api_key_id,
            status="queued",
            nodes_executed=0,
            created_at=now,
        )
    )
    await conn.execute(
        insert(queued_runs).values(
            execution_id=request.execution_id,
            mode=request.mode,
            body=request.body,
            content_type=request.content_type,
            version_header=request.version_header,
            callback_url=request.callback_url,
            job_id=job_id,
            created_at=now,
        )
    )


async def set_job(conn: AsyncConnection, execution_id: uuid.UUID, job_id: int) -> None:
    await conn.execute(update(queued_runs).where(queued_runs.c.execution_id == execution_id).values(job_id=job_id))


@dataclass(frozen=True, slots=True)
class AtLimit:
    """What `claim` returns when the deployment already runs its `maxConcurrency` runs across all workers."""

    max_concurrency: int


def _claim_statement(*, unlimited_only: bool) -> Select[Any]:
    """One round trip that makes the worker the run's owner, counts the attempt and returns the request with
    its deployment (PostgreSQL data-modifying CTEs). `unlimited_only`: only when the run's deployment has
    no `maxConcurrency` (one with a limit is claimed after counting, under its lock)."""
    execution_id = bindparam("run_id", type_=executions.c.id.type)
    waiting = [executions.c.id == execution_id, executions.c.status == "queued", executions.c.owner_id.is_(None)]
    if unlimited_only:
        unlimited = select(deployments.c.id).where(deployments.c.max_concurrency.is_(None))
        waiting.append(executions.c.deployment_id.in_(unlimited.scalar_subquery()))
    claimed = (
        update(executions)
        .where(*waiting)
        .values(owner_id=bindparam("claimant"))
        .returning(executions.c.deployment_id, executions.c.api_key_id)
        .cte("claimed")
    )
    request = (
        update(queued_runs)
        .where(queued_runs.c.execution_id == execution_id, exists(select(claimed.c.deployment_id)))
        .values(attempts=queued_runs.c.attempts + 1, outbound_at=null(), started_version=null())
        .returning(*(queued_runs.c[name] for name in _REQUEST_COLUMNS))
        .cte("request")
    )
    return (
        select(deployments, claimed.c.api_key_id, *(request.c[name] for name in _REQUEST_COLUMNS))
        .select_from(claimed.join(deployments, deployments.c.id == claimed.c.deployment_id))
        .join(request, true())
    )


_REQUEST_COLUMNS = ("mode", "body", "content_type", "version_header", "callback_url")
_CLAIM_UNLIMITED = _claim_statement(unlimited_only=True)
_CLAIM = _claim_statement(unlimited_only=False)


async def claim_at_once(conn: AsyncConnection, execution_id: uuid.UUID, owner_id: uuid.UUID) -> QueuedRequest | None:
    """Make this worker's lease the owner of a waiting run whose deployment has no `maxConcurrency` and
    return its request, in one statement, atomic on its own (`Database.statement`). None when the run is
    not such a run (any more): `claim` tells which."""
    row = (await conn.execute(_CLAIM_UNLIMITED, {"run_id": execution_id, "claimant": owner_id})).mappings().first()
    return None if row is None else _queued_request(execution_id, row)


async def claim(conn: AsyncConnection, execution_id: uuid.UUID, owner_id: uuid.UUID) -> QueuedRequest | AtLimit | None:
    """In a transaction, make this worker's lease the run's owner and return its request; None when the run
    is no longer waiting (cancelled, swept, or taken by a job deferred again); `AtLimit` when its deployment
    already has `maxConcurrency` runs owned by workers. Workers claiming runs of one limited deployment take
    turns on an advisory lock, so the count and the claim are one step across the cluster."""
    waiting = (
        await conn.execute(
            select(executions.c.deployment_id, deployments.c.max_concurrency)
            .select_from(executions.join(deployments, deployments.c.id == executions.c.deployment_id))
            .where(executions.c.id == execution_id, executions.c.status == "queued", executions.c.owner_id.is_(None))
        )
    ).first()
    if waiting is None:
        return None
    if waiting.max_concurrency is not None and await _at_limit(conn, waiting.deployment_id, waiting.max_concurrency):
        return AtLimit(waiting.max_concurrency)
    row = (await conn.execute(_CLAIM, {"run_id": execution_id, "claimant": owner_id})).mappings().first()
    return None if row is None else _queued_request(execution_id, row)


def _queued_request(execution_id: uuid.UUID, row: Any) -> QueuedRequest:
    return QueuedRequest(
        execution_id=execution_id,
        deployment=deployment_from_row(row),
        api_key_id=row["api_key_id"],
        mode=row["mode"],
        body=row["body"],
        content_type=row["content_type"],
        version_header=row["version_header"],
        callback_url=row["callback_url"],
    )


async def _at_limit(conn: AsyncConnection, deployment_id: uuid.UUID, max_concurrency: int) -> bool:
    """Whether the deployment's workers already run `max_concurrency` runs, counted under the deployment's
    claim lock, held to the end of the transaction."""
    await conn.execute(
        text("SELECT pg_advisory_xact_lock(hashtextextended(:key, 0))"), {"key": f"clara-run:{deployment_id}"}
    )
    owned = await conn.execute(
        select(func.count()).where(
            executions.c.deployment_id == deployment_id,
            executions.c.status.in_(UNFINISHED),
            executions.c.owner_id.is_not(None),
        )
    )
    return owned.scalar_one() >= max_concurrency


async def mark_outbound(conn: AsyncConnection, execution_id: uuid.UUID, now: datetime) -> None:
    await conn.execute(
        update(queued_runs)
        .where(queued_runs.c.execution_id == execution_id, queued_runs.c.outbound_at.is_(None))
        .values(outbound_at=now)
    )


async def mark_started(conn: AsyncConnection, execution_id: uuid.UUID, version: int) -> None:
    await conn.execute(
        update(queued_runs).where(queued_runs.c.execution_id == execution_id).values(started_version=version)
    )
    await announce(conn, [execution_id])


async def store_reply(
    conn: AsyncConnection, execution_id: uuid.UUID, status: int, headers: dict[str, str], body: bytes
) -> None:
    await conn.execute(
        update(queued_runs)
        .where(queued_runs.c.execution_id == execution_id)
        .values(reply_status=status, reply_headers=headers, reply_body=body)
    )
    await announce(conn, [execution_id])


async def state(conn: AsyncConnection, execution_id: uuid.UUID) -> RunState | None:
    query = (
        select(
            executions.c.status,
            executions.c.error_code,
            executions.c.error_message,
            executions.c.finished_at,
            queued_runs.c.started_version,
            queued_runs.c.reply_status,
            queued_runs.c.reply_headers,
            queued_runs.c.reply_body,
        )
        .select_from(executions.join(queued_runs, queued_runs.c.execution_id == executions.c.id))
        .where(executions.c.id == execution_id)
    )
    row = (await conn.execute(query)).mappings().first()
    if row is None:
        return None
    return RunState(
        status=row["status"],
        started_version=row["started_version"],
        reply_status=row["reply_status"],
        reply_headers=row["reply_headers"],
        reply_body=row["reply_body"],
        error_code=row["error_code"],
        error_message=row["error_message"],
        finished_at=row["finished_at"],
    )


async def cancel_waiting(
    conn: AsyncConnection, execution_id: uuid.UUID, code: str, message: str, now: datetime
) -> bool:
    """Record a run still waiting for a worker `cancelled` (counted on its deployment and in the statistics
    roll-ups, announced to its relay); False when a worker holds it or it ended (the owner then cancels it,
    `cancellation.py`)."""
    cancelled = (
        await conn.execute(
            update(executions)
            .where(executions.c.id == execution_id, executions.c.status == "queued", executions.c.owner_id.is_(None))
            .values(status="cancelled", error_code=code, error_message=message, finished_at=now, duration_ms=0)
            .returning(*(executions.c[name] for name in STATS_COLUMNS))
        )
    ).first()
    if cancelled is None:
        return False
    await rollups.add(conn, rollups.roll_up([cancelled]))
    await conn.execute(
        update(deployments)
        .where(deployments.c.id == cancelled.deployment_id)
        .values(execution_count=deployments.c.execution_count + 1)
    )
    await announce(conn, [execution_id])
    return True


async def requeue_orphans(
    conn: AsyncConnection, now: datetime, sweeper: uuid.UUID, max_attempts: int
) -> Sequence[uuid.UUID]:
    """Put back in the queue the unfinished runs of workers whose lease expired, where their deployment's
    retry policy allows it (`unstarted`, the default: only runs that had not started an outbound call;
    `always`; `never`) and they were not already given to workers `max_attempts` times. Their rows become
    `queued` with no owner and their logged events are dropped (the run starts over); the caller defers a
    new job for each in this transaction. Rows are locked in id order: a sweep that waited for another's
    finds the rows it requeued no longer orphaned (and never marks a run the other requeued)."""
    orphaned = and_(
        executions.c.owner_id.is_not(None), executions.c.owner_id != sweeper, owner_gone(executions.c.owner_id, now)
    )
    return await _requeue(conn, orphaned, max_attempts)


async def hand_back(conn: AsyncConnection, execution_id: uuid.UUID, owner_id: uuid.UUID, max_attempts: int) -> bool:
    """Put back in the queue a run its worker stops running at shutdown, on the terms of `requeue_orphans`
    (retry policy, attempts; the caller defers its new job): True if it went back, False if it stays the
    worker's to record (`interrupted`)."""
    owned = and_(executions.c.id == execution_id, executions.c.owner_id == owner_id)
    return bool(await _requeue(conn, owned, max_attempts))


async def _requeue(conn: AsyncConnection, whose: ColumnElement[bool], max_attempts: int) -> list[uuid.UUID]:
    """Put back in the queue the unfinished runs `whose` selects that their retry policy and attempts allow."""
    policy = func.coalesce(deployments.c.retry_policy, RETRY_UNSTARTED)
    candidates = (
        select(executions.c.id)
        .select_from(
            executions.join(queued_runs, queued_runs.c.execution_id == executions.c.id).join(
                deployments, deployments.c.id == executions.c.deployment_id
            )
        )
        .where(
            executions.c.status.in_(UNFINISHED),
            whose,
            queued_runs.c.attempts < max_attempts,
            or_(
                policy == RETRY_ALWAYS,
                and_(policy == RETRY_UNSTARTED, queued_runs.c.outbound_at.is_(None)),
            ),
        )
        .order_by(executions.c.id)
        .with_for_update(of=executions)
    )
    ids = list((await conn.execute(candidates)).scalars())
    if not ids:
        return []
    await conn.execute(
        update(executions)
        .where(executions.c.id.in_(ids))
        .values(status="queued", owner_id=None, cancel_requested_at=None, cancel_reason=None)
    )
    await conn.execute(
        update(queued_runs)
        .where(queued_runs.c.execution_id.in_(ids))
        .values(outbound_at=None, started_version=None, job_id=None)
    )
    await conn.execute(delete(execution_events).where(execution_events.c.execution_id.in_(ids)))
    return ids


async def prune_replies(conn: AsyncConnection, before: datetime) -> int:
    """Forget the requests and replies of runs that finished before `before` (their relays are long over)."""
    finished = select(executions.c.id).where(executions.c.finished_at < before, executions.c.status.not_in(UNFINISHED))
    result = await conn.execute(delete(queued_runs).where(queued_runs.c.execution_id.in_(finished)))
    return int(result.rowcount)
