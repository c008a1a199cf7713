"""Process leases, and what a process that lost its lease leaves behind.

Every server or worker process holds one row in `process_leases` and pushes its `expires_at` forward
while it lives. Unfinished runs (`executions.owner_id`) and idempotency claims (`idempotency_keys.owner_id`)
name the lease of the process that owns them; once that lease has expired, the process is taken to be
gone: its runs are marked `interrupted` by whichever live process sweeps first, and
its claims may be taken over. Each query is a single conditional statement, safe to run from several
processes at once.
"""

from __future__ import annotations

import uuid
from collections import Counter
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, delete, exists, insert, not_, or_, update
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store import rollups
from clara_runner.store.tables import STATS_COLUMNS, UNFINISHED, deployments, executions, process_leases, queued_runs


async def register(
    conn: AsyncConnection, lease_id: uuid.UUID, *, kind: str, host: str, pid: int, now: datetime, expires_at: datetime
) -> None:
    await conn.execute(
        insert(process_leases).values(
            id=lease_id, kind=kind, host=host[:255], pid=pid, started_at=now, expires_at=expires_at
        )
    )


async def renew(conn: AsyncConnection, lease_id: uuid.UUID, expires_at: datetime) -> bool:
    """Push the lease's end forward; False when the row is gone (another process judged this one dead)."""
    result = await conn.execute(
        update(process_leases).where(process_leases.c.id == lease_id).values(expires_at=expires_at)
    )
    return result.rowcount == 1


async def release(conn: AsyncConnection, lease_id: uuid.UUID) -> None:
    await conn.execute(delete(process_leases).where(process_leases.c.id == lease_id))


def owner_gone(owner: Any, now: datetime) -> ColumnElement[bool]:
    """True for rows whose owner column names no lease that is still valid at `now`."""
    live = exists().where(process_leases.c.id == owner, process_leases.c.expires_at > now)
    return not_(live)


_queued_for_a_worker = exists().where(queued_runs.c.execution_id == executions.c.id)
"""A run of the queue backend (`run_queue.py`): while it has no owner, it waits for a worker, not a process."""


async def interrupt_orphans(
    conn: AsyncConnection, now: datetime, code: str, message: str, sweeper: uuid.UUID
) -> Sequence[uuid.UUID]:
    """Mark every unfinished run whose owner lost its lease `interrupted` with `code`, count it on its
    deployment and in the statistics roll-ups, and return the ids marked. Sweeps running at once in several
    processes mark each run once: the update only changes rows still unfinished, and only what it changed
    is counted. The sweeping
    process's own runs are never its orphans: after a database outage longer than the lease, its sweep
    may run before its renewal, and its runs are alive and will write their own final rows. A run of the
    queue backend waiting for a worker has no owner: its job owns it (`run_queue.py`)."""
    marked = (
        await conn.execute(
            update(executions)
            .where(
                executions.c.status.in_(UNFINISHED),
                or_(executions.c.owner_id.is_(None), executions.c.owner_id != sweeper),
                owner_gone(executions.c.owner_id, now),
                not_(and_(executions.c.owner_id.is_(None), _queued_for_a_worker)),
            )
            .values(status="interrupted", error_code=code, error_message=message, finished_at=now)
            .returning(executions.c.id, *(executions.c[name] for name in STATS_COLUMNS))
        )
    ).all()
    for deployment_id, count in Counter(row.deployment_id for row in marked).items():
        await conn.execute(
            update(deployments)
            .where(deployments.c.id == deployment_id)
            .values(execution_count=deployments.c.execution_count + count)
        )
    await rollups.add(conn, rollups.roll_up(marked))
    return [row.id for row in marked]


async def prune_expired(conn: AsyncConnection, before: datetime) -> int:
    """Forget leases that expired before `before` and own nothing any more."""
    owned = exists().where(executions.c.owner_id == process_leases.c.id, executions.c.status.in_(UNFINISHED))
    result = await conn.execute(delete(process_leases).where(process_leases.c.expires_at < before, not_(owned)))
    return int(result.rowcount)
