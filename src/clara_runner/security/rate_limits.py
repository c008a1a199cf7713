"""Rate limits per API key per deployment, exact across processes, taken from the shared count in blocks.

A limit is a fixed window: at most `max_requests` requests per `window_seconds` for each API key of a
deployment. The server-wide default comes from `RATE_LIMIT_*`; a deployment may override any part of
it (`deployments.rate_limit`). Windows are aligned to the clock (multiples of the window length since
the epoch), so every process agrees on the current window and its end without asking anyone. A caller
can send up to twice the limit across a window boundary, as with any fixed window.

The count of a window lives where every process sees it: Redis when `REDIS_URL` is set, else the
database (`Counters`). A process does not add one to it per request: it leases a block of units with
one atomic add and admits that many requests from memory. A lease is granted only the units that keep
the shared count within the limit, so all processes together never admit more than `max_requests`.
Blocks grow while requests keep coming (up to `max_block`, 1,024) and shrink near the limit (never more than
a sixteenth of what is left, one unit at the end), and units a process holds but has not used for
`idle_seconds` are given back, so a quiet process does not sit on quota another process needs.
`RateLimit-Remaining` is therefore exact for one process and, across several, may count units other
processes hold but have not used yet.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import redis.asyncio
from limits.aio.storage import RedisStorage
from redis.exceptions import RedisError

from clara_runner.errors import ClaraError

_REDIS_TIMEOUT_SECONDS = 5.0
_REDIS_CONNECTIONS = 50
"""Per process; a burst beyond it waits (up to the timeout) for a connection instead of failing."""
_REDIS_KEY_PREFIX = "clara-runner"
_UNAVAILABLE_RETRY_SECONDS = 5
_NEAR_LIMIT_SHARE = 16
"""A lease takes at most 1/16 of what the shared count has left, so blocks held near the limit stay small."""
_FAST_REFILL_SECONDS = 1.0
"""A block used up within this time is followed by a block twice as large; otherwise half as large."""


@dataclass(frozen=True, slots=True)
class RateLimit:
    """`max_requests` per `window_seconds` for each API key of a deployment, unless not `enabled`."""

    enabled: bool
    max_requests: int
    window_seconds: int

    def overridden(self, override: Mapping[str, Any] | None) -> RateLimit:
        """This limit with a deployment's stored override applied; fields it does not set keep this value."""
        if not override:
            return self
        return RateLimit(
            enabled=bool(override.get("enabled", self.enabled)),
            max_requests=int(override.get("maxRequests", self.max_requests)),
            window_seconds=int(override.get("windowMs", self.window_seconds * 1000)) // 1000,
        )

    def bucket_key(self, bucket: str) -> str:
        """The counter of `bucket` under this limit: changing a deployment's limit starts a fresh count."""
        return f"{bucket}/{self.max_requests}/{self.window_seconds}"

    def to_document(self) -> dict[str, Any]:
        return {"enabled": self.enabled, "maxRequests": self.max_requests, "windowMs": self.window_seconds * 1000}


def window_start(window_seconds: int, now: float) -> int:
    """The start of the clock-aligned window `now` falls in, in seconds since the epoch."""
    return int(now // window_seconds) * window_seconds


@dataclass(slots=True)
class Quota:
    """What a caller has left, as the `RateLimit-*` response headers say it."""

    limit: int
    remaining: int
    reset_seconds: int
    window_seconds: int

    def headers(self) -> dict[str, str]:
        return {
            "RateLimit-Limit": str(self.limit),
            "RateLimit-Remaining": str(self.remaining),
            "RateLimit-Reset": str(self.reset_seconds),
            "RateLimit-Policy": f"{self.limit};w={self.window_seconds}",
        }


class RateLimited(ClaraError):
    """This API key has used its requests for the current window; retry after `Retry-After` seconds."""

    code = "rate_limited"
    status = 429
    error = "Too many requests"

    def __init__(self, quota: Quota) -> None:
        super().__init__(
            f"Rate limit exceeded: this API key may make {quota.limit} requests per {quota.window_seconds} "
            f"seconds to this workflow; retry after {quota.reset_seconds} seconds",
            details={"retryAfter": quota.reset_seconds, "limit": quota.limit, "windowMs": quota.window_seconds * 1000},
            headers={**quota.headers(), "Retry-After": str(quota.reset_seconds)},
        )


class RateLimiterUnavailable(ClaraError):
    """The rate-limit store (Redis) cannot be reached, so no request is admitted; retry later."""

    code = "rate_limiter_unavailable"
    status = 503
    error = "Service unavailable"

    def __init__(self) -> None:
        super().__init__(
            "The rate-limit store is unreachable, so the request was not admitted; retry later",
            headers={"Retry-After": str(_UNAVAILABLE_RETRY_SECONDS)},
        )


class Counters(Protocol):
    """Where window counts live; shared by every process that serves the same deployments."""

    async def add(self, key: str, window_start: int, window_seconds: int, amount: int) -> int:
        """Add `amount` (negative to give units back) to the count of `key`'s window; return the new count."""
        ...

    async def reachable(self) -> bool:
        """Whether the store answers now (for `/health`)."""
        ...

    async def aclose(self) -> None: ...


@dataclass(slots=True)
class _Lease:
    """The units of one counter's current window this process may still admit without asking the store."""

    key: str
    start: int
    limit: RateLimit
    left: int = 0
    seen: int = 0
    """The shared count right after this process's latest lease: units taken by every process so far."""
    block: int = 1
    refilled_at: float = 0.0
    used_at: float = 0.0
    refill: asyncio.Future[int] | None = field(default=None, repr=False)
    """The lease being asked for, which concurrent requests wait for instead of asking again."""

    def quota(self, now: float) -> Quota:
        return Quota(
            limit=self.limit.max_requests,
            remaining=max(0, self.limit.max_requests - self.seen) + self.left,
            reset_seconds=max(1, math.ceil(self.start + self.limit.window_seconds - now)),
            window_seconds=self.limit.window_seconds,
        )


class RateLimiter:
    def __init__(
        self, counters: Counters, default: RateLimit, *, max_block: int = 1024, idle_seconds: float = 1.0
    ) -> None:
        self._counters = counters
        self.default = default
        self._max_block = max_block
        self._idle_seconds = idle_seconds
        self._leases: dict[str, _Lease] = {}

    def policy(self, override: Mapping[str, Any] | None) -> RateLimit:
        return self.default.overridden(override)

    async def hit(self, bucket: str, override: Mapping[str, Any] | None) -> Quota | None:
        """Take one request from `bucket`'s quota: the quota left, None when unlimited, or `RateLimited`."""
        limit = self.policy(override)
        if not limit.enabled:
            return None
        now = time.time()
        key = limit.bucket_key(bucket)
        start = window_start(limit.window_seconds, now)
        lease = self._leases.get(key)
        if lease is None or lease.start != start:
            lease = self._leases[key] = _Lease(key, start, limit)
        while lease.left == 0:
            granted = await self._refill(lease)
            if granted == 0 and lease.left == 0:
                raise RateLimited(lease.quota(now))
        lease.left -= 1
        lease.used_at = now
        return lease.quota(now)

    async def _refill(self, lease: _Lease) -> int:
        """Lease more units (one request at a time asks; the others wait for its answer)."""
        if lease.refill is not None:
            return await asyncio.shield(lease.refill)
        lease.refill = asyncio.get_running_loop().create_future()
        try:
            granted = await self._lease(lease)
        except BaseException as exc:
            lease.refill.set_exception(exc)
            lease.refill.exception()
            raise
        else:
            lease.refill.set_result(granted)
        finally:
            lease.refill = None
        return granted

    async def _lease(self, lease: _Lease) -> int:
        limit = lease.limit
        now = time.monotonic()
        fast = lease.refilled_at and now - lease.refilled_at < _FAST_REFILL_SECONDS
        lease.block = min(self._max_block, lease.block * 2) if fast else max(1, lease.block // 2)
        amount = min(lease.block, max(1, (limit.max_requests - lease.seen) // _NEAR_LIMIT_SHARE))
        count = await self._counters.add(lease.key, lease.start, limit.window_seconds, amount)
        granted = max(0, min(count, limit.max_requests) - (count - amount))
        overshoot = amount - granted
        if overshoot:
            count = await self._counters.add(lease.key, lease.start, limit.window_seconds, -overshoot)
        lease.left += granted
        lease.seen = max(lease.seen, count)
        lease.refilled_at = now
        return granted

    async def give_back_idle(self) -> None:
        """Return units held but unused for `idle_seconds`, and forget leases of ended windows."""
        now = time.time()
        for key, lease in list(self._leases.items()):
            if lease.start + lease.limit.window_seconds <= now:
                del self._leases[key]
            elif lease.left and lease.refill is None and now - lease.used_at >= self._idle_seconds:
                await self._give_back(lease)

    async def _give_back(self, lease: _Lease) -> None:
        unused, lease.left = lease.left, 0
        lease.seen = await self._counters.add(lease.key, lease.start, lease.limit.window_seconds, -unused)
        lease.block = 1

    async def store_reachable(self) -> bool:
        return await self._counters.reachable()

    async def aclose(self) -> None:
        """Give every unused unit back, then close the counters."""
        try:
            for lease in list(self._leases.values()):
                if lease.left and lease.start + lease.limit.window_seconds > time.time():
                    await self._give_back(lease)
        finally:
            await self._counters.aclose()


def _limits_uri(url: str) -> str:
    """`limits` names its asyncio Redis storages `async+redis://...` (`async+redis+unix://` for sockets)."""
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class RedisCounters:
    """Counters in Redis through `limits` (one atomic Lua INCRBY + EXPIRE), on a pool this object owns."""

    def __init__(self, url: str) -> None:
        self._pool: redis.asyncio.ConnectionPool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=_REDIS_CONNECTIONS,
            timeout=_REDIS_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        self._storage = RedisStorage(
            _limits_uri(url),
            implementation="redispy",
            key_prefix=_REDIS_KEY_PREFIX,
            connection_pool=self._pool,  # type: ignore[arg-type]  # documented option; the annotation is narrower
        )

    async def add(self, key: str, window_start: int, window_seconds: int, amount: int) -> int:
        try:
            return await self._storage.incr(f"{key}/{window_start}", window_seconds, amount)
        except RedisError as exc:
            raise RateLimiterUnavailable() from exc

    async def reachable(self) -> bool:
        return await self._storage.check()

    async def aclose(self) -> None:
        await self._pool.aclose()
