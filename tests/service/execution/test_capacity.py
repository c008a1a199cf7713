from __future__ import annotations

import asyncio
import uuid

import pytest

from clara_runner.service.execution.capacity import AtCapacity, ExecutionCapacity
from tests.apps import wait_until

DEPLOYMENT = uuid.uuid4()
OTHER = uuid.uuid4()


async def _hold(capacity: ExecutionCapacity, release: asyncio.Event, limit: int | None = None) -> None:
    async with capacity.slot(DEPLOYMENT, limit):
        await release.wait()


async def _holding(capacity: ExecutionCapacity, release: asyncio.Event, limit: int | None = None) -> asyncio.Task[None]:
    """A task holding a slot (or waiting for one) until `release` is set."""
    task = asyncio.create_task(_hold(capacity, release, limit))
    await asyncio.sleep(0)
    assert not task.done()
    return task


async def _refusal(capacity: ExecutionCapacity, limit: int | None = None) -> AtCapacity:
    with pytest.raises(AtCapacity) as raised:
        async with capacity.slot(DEPLOYMENT, limit):
            pytest.fail("got a slot that was taken")
    return raised.value


async def test_requests_past_the_limit_wait_and_run_when_a_slot_frees() -> None:
    capacity = ExecutionCapacity(max_running=2, max_waiting=5, wait_seconds=30)
    release = asyncio.Event()
    holders = [await _holding(capacity, release) for _ in range(2)]
    entered = asyncio.Event()

    async def third() -> None:
        async with capacity.slot(DEPLOYMENT, None):
            entered.set()

    waiter = asyncio.create_task(third())
    await wait_until(lambda: capacity.waiting == 1)
    assert not entered.is_set()
    release.set()
    await asyncio.gather(*holders, waiter)
    assert entered.is_set()
    assert capacity.waiting == 0


async def test_a_request_that_waits_past_the_queue_timeout_gets_at_capacity() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=5, wait_seconds=0.05)
    release = asyncio.Event()
    holder = await _holding(capacity, release)
    refusal = await _refusal(capacity)
    assert refusal.status == 503
    assert refusal.code == "at_capacity"
    assert refusal.headers["Retry-After"] == "1"
    assert "within 50ms" in refusal.message
    release.set()
    await holder
    async with capacity.slot(DEPLOYMENT, None):
        pass


async def test_the_waiting_line_is_bounded() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=1, wait_seconds=30)
    release = asyncio.Event()
    holder = await _holding(capacity, release)
    waiter = await _holding(capacity, release)
    await wait_until(lambda: capacity.waiting == 1)
    assert "1 requests are already waiting" in (await _refusal(capacity)).message
    release.set()
    await asyncio.gather(holder, waiter)


async def test_no_waiting_at_all_when_the_queue_timeout_is_zero() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=10, wait_seconds=0)
    release = asyncio.Event()
    holder = await _holding(capacity, release)
    await _refusal(capacity)
    assert capacity.waiting == 0
    release.set()
    await holder


async def test_a_deployment_limit_holds_back_only_that_deployment() -> None:
    capacity = ExecutionCapacity(max_running=5, max_waiting=5, wait_seconds=0.05)
    release = asyncio.Event()
    holder = await _holding(capacity, release, limit=1)
    assert "at most 1 of this workflow" in (await _refusal(capacity, limit=1)).message
    async with capacity.slot(OTHER, None):
        pass
    async with capacity.slot(DEPLOYMENT, None):
        pass
    release.set()
    await holder


async def test_a_cancelled_waiter_leaves_no_slot_or_place_in_line_behind() -> None:
    capacity = ExecutionCapacity(max_running=1, max_waiting=1, wait_seconds=30)
    release = asyncio.Event()
    holder = await _holding(capacity, release)
    waiter = await _holding(capacity, release)
    await wait_until(lambda: capacity.waiting == 1)
    waiter.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiter
    assert capacity.waiting == 0
    second_waiter = await _holding(capacity, release)
    await wait_until(lambda: capacity.waiting == 1)
    release.set()
    await asyncio.gather(holder, second_waiter)
    async with capacity.slot(DEPLOYMENT, None):
        pass
