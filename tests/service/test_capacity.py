from __future__ import annotations

import asyncio
import uuid

import pytest

from clara_runner.service.capacity import AtCapacity, ExecutionCapacity

DEPLOYMENT = uuid.uuid4()
OTHER = uuid.uuid4()


async def _hold(capacity: ExecutionCapacity, release: asyncio.Event, deployment: uuid.UUID = DEPLOYMENT) -> None:
    async with capacity.slot(deployment, None):
        await release.wait()


async def _started(tasks: list[asyncio.Task[None]]) -> None:
    await asyncio.sleep(0)
    assert not any(task.done() for task in tasks)


async def test_requests_past_the_limit_wait_and_run_when_a_slot_frees() -> None:
    capacity = ExecutionCapacity(max_running=2, max_waiting=5, wait_seconds=30)
    release = asyncio.Event()
    holders = [asyncio.create_task(_hold(capacity, release)) for _ in range(2)]
    await _started(holders)
    entered = asyncio.Event()

    async def third() -> None:
        async with capacity.slot(DEPLOYMENT, None):
            entered.set()

    waiter = asyncio.create_task(third())
    await asyncio.sleep(0.01)
    assert not entered.is_set()
    release.set()
    await asyncio.gather(*holders, waiter)
    assert entered.is_set()


async def test_a_request_that_waits_past_the_queue_timeout_gets_at_capacity() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=5, wait_seconds=0.05)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(capacity, release))
    await _started([holder])
    with pytest.raises(AtCapacity) as raised:
        async with capacity.slot(DEPLOYMENT, None):
            pytest.fail("got a slot that was taken")
    assert raised.value.status == 503
    assert raised.value.code == "at_capacity"
    assert raised.value.headers["Retry-After"] == "1"
    assert "within 50ms" in raised.value.message
    release.set()
    await holder
    async with capacity.slot(DEPLOYMENT, None):
        pass


async def test_the_waiting_line_is_bounded() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=1, wait_seconds=30)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(capacity, release))
    await _started([holder])
    waiter = asyncio.create_task(_hold(capacity, release))
    await asyncio.sleep(0.01)
    with pytest.raises(AtCapacity) as raised:
        async with capacity.slot(DEPLOYMENT, None):
            pytest.fail("got a slot that was taken")
    assert "1 requests are already waiting" in raised.value.message
    release.set()
    await asyncio.gather(holder, waiter)


async def test_no_waiting_at_all_when_the_queue_timeout_is_zero() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=10, wait_seconds=0)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(capacity, release))
    await _started([holder])
    with pytest.raises(AtCapacity):
        async with capacity.slot(DEPLOYMENT, None):
            pytest.fail("got a slot that was taken")
    release.set()
    await holder


async def test_a_deployment_limit_holds_back_only_that_deployment() -> None:
    capacity = ExecutionCapacity(max_running=5, max_waiting=5, wait_seconds=0.05)
    release = asyncio.Event()

    async def hold_limited() -> None:
        async with capacity.slot(DEPLOYMENT, 1):
            await release.wait()

    holder = asyncio.create_task(hold_limited())
    await _started([holder])
    with pytest.raises(AtCapacity) as raised:
        async with capacity.slot(DEPLOYMENT, 1):
            pytest.fail("the deployment's only slot was taken")
    assert "at most 1 of this workflow" in raised.value.message
    async with capacity.slot(OTHER, None):
        pass
    release.set()
    await holder


async def test_a_cancelled_waiter_leaves_no_slot_or_place_in_line_behind() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=1, wait_seconds=30)
    release = asyncio.Event()
    holder = asyncio.create_task(_hold(capacity, release))
    await _started([holder])
    waiter = asyncio.create_task(_hold(capacity, release))
    await asyncio.sleep(0.01)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    second_waiter = asyncio.create_task(_hold(capacity, release))
    await asyncio.sleep(0.01)
    assert not second_waiter.done()
    release.set()
    await asyncio.gather(holder, second_waiter)
    async with capacity.slot(DEPLOYMENT, None):
        pass
