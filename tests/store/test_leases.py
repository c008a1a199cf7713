"""Orphan sweeps: the unfinished runs of an expired lease are marked `interrupted`, never the sweeper's own."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import insert, select

from clara_runner.clock import utcnow
from clara_runner.store import leases as queries
from clara_runner.store.database import Database
from clara_runner.store.tables import executions
from tests.store.stored_runs import stored_deployment


async def test_a_sweep_marks_the_runs_of_expired_leases_but_not_its_own(database: Database) -> None:
    """The sweeper's own lease expired too (a database outage outlived it): its runs are alive."""
    now = utcnow()
    sweeper, dead = uuid.uuid4(), uuid.uuid4()
    own_run, orphan = uuid.uuid4(), uuid.uuid4()
    async with database.write() as conn:
        deployment_id = await stored_deployment(conn, now)
        for lease in (sweeper, dead):
            await queries.register(
                conn, lease, kind="server", host="h", pid=1, now=now, expires_at=now - timedelta(seconds=1)
            )
        for run, owner in ((own_run, sweeper), (orphan, dead)):
            await conn.execute(
                insert(executions).values(
                    id=run, deployment_id=deployment_id, version=1, status="running", created_at=now, owner_id=owner
                )
            )

    async with database.write() as conn:
        marked = await queries.interrupt_orphans(conn, utcnow(), "process_lost", "gone", sweeper)

    async with database.read() as conn:
        statuses = dict((await conn.execute(select(executions.c.id, executions.c.status))).all())
    assert marked == [orphan]
    assert statuses == {own_run: "running", orphan: "interrupted"}
