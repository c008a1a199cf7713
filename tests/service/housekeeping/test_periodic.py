"""Background jobs repeat on their interval, survive their own failures and stop when told."""

from __future__ import annotations

import asyncio

from clara_runner.service.housekeeping.periodic import Periodic


async def test_a_job_repeats_on_its_interval_through_failures_until_stopped() -> None:
    rounds = 0
    enough = asyncio.Event()

    async def job() -> None:
        nonlocal rounds
        rounds += 1
        if rounds == 3:
            enough.set()
        if rounds == 2:
            raise RuntimeError("one bad round")

    loop = Periodic("job", 0.01, job, first_delay=0)
    loop.start()
    async with asyncio.timeout(10):
        await enough.wait()
    await loop.stop()
    stopped_at = rounds
    await asyncio.sleep(0.05)
    assert rounds == stopped_at
