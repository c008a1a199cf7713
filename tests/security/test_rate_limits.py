from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator

import pytest
from pydantic import ValidationError

from clara_runner.security.rate_limits import (
    Counters,
    RateLimit,
    RateLimited,
    RateLimiter,
    RateLimiterUnavailable,
    RedisCounters,
)
from clara_runner.store.database import Database
from clara_runner.store.rate_limits import DatabaseCounters, prune_windows
from clara_runner.store.tables import rate_limit_windows
from tests.support import REDIS_URL, free_port, make_settings

DEFAULT = RateLimit(enabled=True, max_requests=100, window_seconds=3600)


def _bucket() -> str:
    return f"{uuid.uuid4()}:{uuid.uuid4()}"


class _Counted:
    """Counters that count how often the store is asked (a lease, or a give-back)."""

    def __init__(self, inner: Counters) -> None:
        self.inner = inner
        self.calls: list[int] = []

    async def add(self, key: str, window_start: int, window_seconds: int, amount: int) -> int:
        self.calls.append(amount)
        return await self.inner.add(key, window_start, window_seconds, amount)

    async def reachable(self) -> bool:
        return await self.inner.reachable()

    async def aclose(self) -> None:
        await self.inner.aclose()


@pytest.fixture
async def database(database_url: str) -> AsyncIterator[Database]:
    db = Database(database_url)
    try:
        yield db
    finally:
        await db.close()


@pytest.fixture(params=["database", "redis"])
async def counters(request: pytest.FixtureRequest, database: Database) -> AsyncIterator[Counters]:
    made: Counters = DatabaseCounters(database) if request.param == "database" else RedisCounters(REDIS_URL)
    try:
        yield made
    finally:
        await made.aclose()


def test_a_deployment_override_replaces_only_the_fields_it_sets() -> None:
    assert DEFAULT.overridden(None) == DEFAULT
    assert DEFAULT.overridden({"maxRequests": 5}) == RateLimit(True, 5, 3600)
    assert DEFAULT.overridden({"windowMs": 60000}) == RateLimit(True, 100, 60)
    assert DEFAULT.overridden({"enabled": False}) == RateLimit(False, 100, 3600)
    assert RateLimit(False, 1, 1).overridden({"enabled": True}).enabled


def test_the_window_setting_must_be_whole_seconds(tmp_path: object) -> None:
    with pytest.raises(ValidationError, match="multiple of 1000"):
        make_settings("sqlite:///x.db", tmp_path, RATE_LIMIT_WINDOW_MS=1500)  # type: ignore[arg-type]


async def _admitted(limiter: RateLimiter, bucket: str, requests: int) -> list[int]:
    """The `RateLimit-Remaining` of every request admitted out of `requests` concurrent ones."""

    async def attempt() -> int | None:
        try:
            quota = await limiter.hit(bucket, None)
        except RateLimited:
            return None
        assert quota is not None
        return quota.remaining

    return [
        remaining for remaining in await asyncio.gather(*(attempt() for _ in range(requests))) if remaining is not None
    ]


async def test_exactly_the_limit_is_admitted_among_concurrent_requests(counters: Counters) -> None:
    limiter = RateLimiter(counters, RateLimit(enabled=True, max_requests=50, window_seconds=3600))
    admitted = await _admitted(limiter, _bucket(), 120)
    assert len(admitted) == 50
    assert all(0 <= remaining < 50 for remaining in admitted)


async def test_two_processes_leasing_blocks_of_one_count_admit_exactly_the_limit(counters: Counters) -> None:
    limit = RateLimit(enabled=True, max_requests=300, window_seconds=3600)
    first, second = RateLimiter(counters, limit), RateLimiter(counters, limit)
    bucket = _bucket()
    admitted = await asyncio.gather(_admitted(first, bucket, 400), _admitted(second, bucket, 400))
    assert sum(len(each) for each in admitted) == 300
    assert all(admitted), "both processes admitted some"


async def test_a_busy_key_takes_its_quota_from_the_store_in_growing_blocks(counters: Counters) -> None:
    counted = _Counted(counters)
    limiter = RateLimiter(counted, RateLimit(enabled=True, max_requests=1_000_000, window_seconds=3600))
    bucket = _bucket()
    for _ in range(400):
        await limiter.hit(bucket, None)
    assert sum(counted.calls) >= 400
    assert len(counted.calls) <= 10, "blocks double while requests keep coming"
    assert max(counted.calls) == 256


async def test_units_a_quiet_process_holds_are_given_back_for_others(counters: Counters) -> None:
    limit = RateLimit(enabled=True, max_requests=64, window_seconds=3600)
    busy = RateLimiter(counters, limit, idle_seconds=0.0)
    other = RateLimiter(counters, limit)
    bucket = _bucket()
    for _ in range(20):
        await busy.hit(bucket, None)
    await busy.give_back_idle()
    admitted = len(await _admitted(other, bucket, 100))
    assert admitted == 64 - 20


async def test_each_api_key_and_deployment_has_its_own_count(counters: Counters) -> None:
    limiter = RateLimiter(counters, RateLimit(enabled=True, max_requests=1, window_seconds=3600))
    first, second = _bucket(), _bucket()
    await limiter.hit(first, None)
    with pytest.raises(RateLimited):
        await limiter.hit(first, None)
    assert await limiter.hit(second, None) is not None


async def test_the_refusal_says_when_to_retry(counters: Counters) -> None:
    limiter = RateLimiter(counters, DEFAULT)
    override = {"maxRequests": 2, "windowMs": 60000}
    bucket = _bucket()
    first = await limiter.hit(bucket, override)
    assert first is not None
    assert first.headers()["RateLimit-Limit"] == "2"
    assert first.headers()["RateLimit-Remaining"] == "1"
    assert first.headers()["RateLimit-Policy"] == "2;w=60"
    assert 1 <= first.reset_seconds <= 60
    await limiter.hit(bucket, override)
    with pytest.raises(RateLimited) as raised:
        await limiter.hit(bucket, override)
    refusal = raised.value
    assert refusal.status == 429
    assert refusal.code == "rate_limited"
    assert refusal.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(refusal.headers["Retry-After"]) <= 60
    assert refusal.details["limit"] == 2
    assert "2 requests per 60 seconds" in refusal.message


async def test_a_disabled_limit_counts_nothing(counters: Counters) -> None:
    counted = _Counted(counters)
    limiter = RateLimiter(counted, RateLimit(enabled=True, max_requests=1, window_seconds=60))
    assert [await limiter.hit(_bucket(), {"enabled": False}) for _ in range(3)] == [None, None, None]
    assert counted.calls == []


async def test_an_unreachable_redis_refuses_the_request_with_503() -> None:
    counters = RedisCounters(f"redis://127.0.0.1:{free_port()}/0")
    limiter = RateLimiter(counters, DEFAULT)
    try:
        with pytest.raises(RateLimiterUnavailable) as raised:
            await limiter.hit(_bucket(), None)
    finally:
        await limiter.aclose()
    assert raised.value.status == 503
    assert raised.value.headers["Retry-After"] == "5"


async def test_ended_database_windows_are_pruned_and_current_ones_kept(database: Database) -> None:
    limiter = RateLimiter(DatabaseCounters(database), RateLimit(enabled=True, max_requests=5, window_seconds=3600))
    await limiter.hit(_bucket(), None)
    now = int(time.time())
    async with database.write() as conn:
        await conn.execute(
            rate_limit_windows.insert(),
            [
                {"bucket": f"old-{index}", "window_start": now - 7200, "count": 3, "expires_at": now - 3600}
                for index in range(3)
            ],
        )
    assert await prune_windows(database) == 3
    async with database.read() as conn:
        left = (await conn.execute(rate_limit_windows.select())).mappings().all()
    assert [row["count"] for row in left] == [1]
