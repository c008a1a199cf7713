"""Rate limits per API key per deployment, counted where every server process sees the same count.

A limit is a fixed window: at most `max_requests` requests per `window_seconds` for each API key of a
deployment. The server-wide default comes from `RATE_LIMIT_*`; a deployment may override any part of
it (`deployments.rate_limit`). The count lives in Redis when `REDIS_URL` is set (the `limits`
library's Redis storage: one atomic Lua `INCR` + `EXPIRE`, one round trip), else in the database (an
atomic upsert, `store/rate_limits.py`). Both are exact across processes and replicas: a request is
admitted when the count after its own increment is within the limit, and every count is taken
atomically.

Windows are aligned to the clock (multiples of the window length since the epoch), so the window's
end is known without asking the store. A caller can send up to twice the limit across a window
boundary, as with any fixed window.
"""

from __future__ import annotations

import math
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import redis.asyncio
from limits.aio.storage import RedisStorage
from redis.exceptions import RedisError

from clara_runner.errors import ClaraError
from clara_runner.store.records import DeploymentRecord

_REDIS_TIMEOUT_SECONDS = 5.0
_REDIS_CONNECTIONS = 50
"""Per process; a burst beyond it waits (up to the timeout) for a connection instead of failing."""
_REDIS_KEY_PREFIX = "clara-runner"
_UNAVAILABLE_RETRY_SECONDS = 5


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


@dataclass(frozen=True, slots=True)
class Window:
    """The state of one counter right after a request was counted in it."""

    allowed: bool
    remaining: int
    reset_at: float
    """Seconds since the epoch when the window ends."""

    @classmethod
    def counted(cls, count: int, limit: RateLimit, window_start: int) -> Window:
        """The window after a request made the count `count`."""
        return cls(
            allowed=count <= limit.max_requests,
            remaining=max(0, limit.max_requests - count),
            reset_at=window_start + limit.window_seconds,
        )


def window_start(window_seconds: int, now: float) -> int:
    """The start of the clock-aligned window `now` falls in, in seconds since the epoch."""
    return int(now // window_seconds) * window_seconds


@dataclass(frozen=True, slots=True)
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
    """Where request counts live; shared by every process that serves the same deployments."""

    async def hit(self, bucket: str, limit: RateLimit) -> Window:
        """Count one request in `bucket`'s current window and say whether it is within `limit`."""
        ...

    async def aclose(self) -> None: ...


class RateLimiter:
    def __init__(self, counters: Counters, default: RateLimit) -> None:
        self._counters = counters
        self.default = default

    def policy(self, deployment: DeploymentRecord) -> RateLimit:
        return self.default.overridden(deployment.rate_limit)

    async def hit(self, deployment: DeploymentRecord, key_id: uuid.UUID) -> Quota | None:
        """Take one request from the key's quota: the quota left, None when unlimited, or `RateLimited`."""
        limit = self.policy(deployment)
        if not limit.enabled:
            return None
        window = await self._counters.hit(f"{deployment.id}:{key_id}", limit)
        quota = Quota(
            limit=limit.max_requests,
            remaining=window.remaining,
            reset_seconds=max(1, math.ceil(window.reset_at - time.time())),
            window_seconds=limit.window_seconds,
        )
        if not window.allowed:
            raise RateLimited(quota)
        return quota

    async def aclose(self) -> None:
        await self._counters.aclose()


def _limits_uri(url: str) -> str:
    """`limits` names its asyncio Redis storages `async+redis://...` (`async+redis+unix://` for sockets)."""
    if url.startswith("unix://"):
        return "async+redis+unix://" + url.removeprefix("unix://")
    return "async+" + url


class RedisCounters:
    """Counters in Redis through `limits` (fixed window), on a bounded connection pool this object owns."""

    def __init__(self, url: str) -> None:
        self._pool: redis.asyncio.ConnectionPool = redis.asyncio.BlockingConnectionPool.from_url(
            url,
            max_connections=_REDIS_CONNECTIONS,
            timeout=_REDIS_TIMEOUT_SECONDS,
            socket_timeout=_REDIS_TIMEOUT_SECONDS,
            socket_connect_timeout=_REDIS_TIMEOUT_SECONDS,
        )
        storage = RedisStorage(
            _limits_uri(url),
            implementation="redispy",
            key_prefix=_REDIS_KEY_PREFIX,
            connection_pool=self._pool,  # type: ignore[arg-type]  # documented option; the annotation is narrower
        )
        self._storage = storage

    async def hit(self, bucket: str, limit: RateLimit) -> Window:
        start = window_start(limit.window_seconds, time.time())
        try:
            count = await self._storage.incr(f"{limit.bucket_key(bucket)}/{start}", limit.window_seconds)
        except RedisError as exc:
            raise RateLimiterUnavailable() from exc
        return Window.counted(count, limit, start)

    async def aclose(self) -> None:
        await self._pool.aclose()
