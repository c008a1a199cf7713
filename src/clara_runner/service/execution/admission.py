"""Letting an execute request in: a key of the deployment, a process willing to run it, quota left.

Order matters: the key is checked first (401, 403, 404), then whether this process takes runs at all
(503 `shutting_down` while it drains, 503 `database_unavailable` while its database is unreachable or
its buffer of unwritten rows is full, 503 `at_capacity` when it could neither run the request nor let
it wait), then whether the key has tokens left of its deployment's usage budget (429
`usage_budget_exhausted`, `budgets.py`), and only then is a request taken from the key's rate limit,
so a refused request costs nobody's quota and no database work. Nothing here touches the database in
the common case: the key and its deployment are cached, and the rate limit is taken from a leased block
(a deployment with a usage budget reads its keys' use once per `USAGE_CACHE_SECONDS`).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import structlog

from clara_runner.errors import ClaraError, DatabaseUnavailable
from clara_runner.security.api_keys import log_prefix
from clara_runner.security.rate_limits import Quota, RateLimiter
from clara_runner.service.access import Access
from clara_runner.service.execution.budgets import UsageBudgets
from clara_runner.service.execution.capacity import ExecutionCapacity
from clara_runner.service.keys.authenticate import Principal, bearer_token
from clara_runner.store.writer import ExecutionWriter

SHUTDOWN_RETRY_SECONDS = 5


class ShuttingDown(ClaraError):
    """This server process is shutting down and runs nothing new; retry (another replica will answer)."""

    code = "shutting_down"
    status = 503
    error = "Service unavailable"

    def __init__(self, message: str | None = None, details: dict[str, Any] | None = None) -> None:
        super().__init__(
            message, details=details, headers={"Retry-After": str(SHUTDOWN_RETRY_SECONDS), "Connection": "close"}
        )


@dataclass(slots=True)
class Admission:
    """A caller let in: a valid key of the deployment, within its rate limit."""

    principal: Principal
    quota: Quota | None

    @property
    def headers(self) -> dict[str, str]:
        return self.quota.headers() if self.quota is not None else {}

    @contextmanager
    def stamped(self) -> Iterator[None]:
        """Put the quota headers on any error raised inside: every response after admission carries them."""
        try:
            yield
        except ClaraError as exc:
            exc.headers = {**self.headers, **exc.headers}
            raise


class Admitter:
    def __init__(
        self,
        access: Access,
        rate_limits: RateLimiter,
        writer: ExecutionWriter,
        capacity: ExecutionCapacity,
        budgets: UsageBudgets | None = None,
    ) -> None:
        self._access = access
        self._budgets = budgets
        self._rate_limits = rate_limits
        self._writer = writer
        self._capacity = capacity
        self.draining = False
        """Set when the process starts shutting down: from then on every request is refused."""

    async def admit(self, slug: str, authorization: str | None) -> Admission:
        principal = await self._access.key_holder(authorization, slug, "execute")
        structlog.contextvars.bind_contextvars(
            deployment=slug, key_prefix=log_prefix(bearer_token(authorization) or "")
        )
        self.check_open()
        deployment = principal.deployment
        self._capacity.check_room(deployment.id, deployment.max_concurrency)
        if deployment.usage_budget is not None and self._budgets is not None:
            await self._budgets.check(principal)
        quota = await self._rate_limits.hit(principal.quota_bucket, deployment.rate_limit)
        return Admission(principal, quota)

    def check_open(self) -> None:
        """Refuse new work while shutting down or while rows cannot be written."""
        if self.draining:
            raise ShuttingDown()
        if not self._writer.accepting:
            if self._writer.reachable:
                raise DatabaseUnavailable(
                    "The database has not kept up with recording executions, so the request was not run; retry later"
                )
            raise DatabaseUnavailable()
