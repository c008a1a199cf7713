"""Delivery rows: queued once per run and endpoint, claimed by one deliverer at a time, taken back when a
claim expires or its process's lease does, and deleted with their run or their webhook."""

from __future__ import annotations

import uuid
from datetime import timedelta

from sqlalchemy import delete, func, select

from clara_runner.clock import utcnow
from clara_runner.store import leases
from clara_runner.store import webhooks as queries
from clara_runner.store.database import Database
from clara_runner.store.tables import executions, webhook_deliveries
from clara_runner.store.webhooks import AttemptResult, NewDelivery, WebhookRecord
from tests.store.stored_runs import stored_run


async def _run_with_webhook(database: Database) -> tuple[uuid.UUID, WebhookRecord]:
    async with database.write() as conn:
        deployment_id, execution_id = await stored_run(conn)
        hook = WebhookRecord(
            uuid.uuid4(), deployment_id, "https://93.184.215.14/h", ["run.finished"], "whsec_AAAA", utcnow()
        )
        await queries.insert_webhook(conn, hook)
    return execution_id, hook


def _delivery(execution_id: uuid.UUID, hook: WebhookRecord, callback: bool = False) -> NewDelivery:
    """The run's delivery to `hook`, or (`callback`) to its callback URL."""
    return NewDelivery(
        id=uuid.uuid4(),
        webhook_id=None if callback else hook.id,
        execution_id=execution_id,
        deployment_id=hook.deployment_id,
        url="https://93.184.215.14/h",
        event="run.succeeded",
        payload="{}",
    )


async def _live_processes(database: Database, count: int, lease: timedelta) -> list[uuid.UUID]:
    """Register `count` process leases that hold for `lease` from now."""
    ids = [uuid.uuid4() for _ in range(count)]
    now = utcnow()
    async with database.write() as conn:
        for lease_id in ids:
            await leases.register(conn, lease_id, kind="server", host="test", pid=1, now=now, expires_at=now + lease)
    return ids


async def _count(database: Database) -> int:
    async with database.read() as conn:
        found: int = (await conn.execute(select(func.count()).select_from(webhook_deliveries))).scalar_one()
        return found


async def test_a_run_is_queued_once_per_endpoint_and_once_for_its_callback(database: Database) -> None:
    execution_id, hook = await _run_with_webhook(database)
    now = utcnow()
    for expected in (2, 0):
        async with database.write() as conn:
            rows = [_delivery(execution_id, hook), _delivery(execution_id, hook, callback=True)]
            assert await queries.insert_deliveries(conn, rows, now) == expected
    assert await _count(database) == 2


async def test_a_delivery_is_claimed_by_one_deliverer_until_its_claim_expires(database: Database) -> None:
    execution_id, hook = await _run_with_webhook(database)
    now = utcnow()
    first, second = await _live_processes(database, 2, timedelta(hours=1))
    async with database.write() as conn:
        await queries.insert_deliveries(conn, [_delivery(execution_id, hook)], now)
    async with database.write() as conn:
        [claimed] = await queries.claim_due(conn, first, now, now + timedelta(seconds=30), 10)
    assert (claimed.secret, claimed.attempts) == ("whsec_AAAA", 0)
    async with database.write() as conn:
        assert await queries.claim_due(conn, second, now, now + timedelta(seconds=30), 10) == []

    later = now + timedelta(seconds=31)
    async with database.write() as conn:
        [taken] = await queries.claim_due(conn, second, later, later + timedelta(seconds=30), 10)
    assert taken.id == claimed.id
    result = AttemptResult("succeeded", None, 200, None, [{"statusCode": 200}])
    async with database.write() as conn:
        assert not await queries.record_attempt(conn, claimed.id, first, result, later), "the first claim was lost"
        assert await queries.record_attempt(conn, claimed.id, second, result, later)
    async with database.read() as conn:
        stored = await queries.get_delivery(conn, hook.id, claimed.id)
    assert stored is not None
    assert (stored.state, stored.attempts, stored.attempt_log) == ("succeeded", 1, [{"statusCode": 200}])


async def test_the_claim_of_a_process_whose_lease_expired_is_taken_back_before_the_claim_expires(
    database: Database,
) -> None:
    execution_id, hook = await _run_with_webhook(database)
    now = utcnow()
    dead, live = await _live_processes(database, 2, timedelta(seconds=5))
    async with database.write() as conn:
        await queries.insert_deliveries(conn, [_delivery(execution_id, hook)], now)
        [claimed] = await queries.claim_due(conn, dead, now, now + timedelta(seconds=40), 10)
        assert await queries.claim_due(conn, live, now, now + timedelta(seconds=40), 10) == []
        await leases.renew(conn, live, now + timedelta(minutes=5))

    after_the_lease = now + timedelta(seconds=6)
    async with database.write() as conn:
        [taken] = await queries.claim_due(conn, live, after_the_lease, after_the_lease + timedelta(seconds=40), 10)
    assert taken.id == claimed.id


async def test_deliveries_go_with_their_run_and_with_their_webhook(database: Database) -> None:
    execution_id, hook = await _run_with_webhook(database)
    async with database.write() as conn:
        await queries.insert_deliveries(conn, [_delivery(execution_id, hook)], utcnow())
        await conn.execute(delete(executions).where(executions.c.id == execution_id))
    assert await _count(database) == 0

    execution_id, hook = await _run_with_webhook(database)
    async with database.write() as conn:
        await queries.insert_deliveries(conn, [_delivery(execution_id, hook)], utcnow())
        assert await queries.delete_webhook(conn, hook.deployment_id, hook.id)
    assert await _count(database) == 0
