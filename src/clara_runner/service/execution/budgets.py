"""Usage budgets: the LLM tokens each key of a deployment may spend per UTC day or calendar month
(`usageBudget`, set by the admin). A key that has spent its budget is refused until the period ends.

A key's use is the sum of its recorded executions' tokens this period (with the keys it was regenerated
from: they share a quota). The sum is read from the database and trusted for `cache_seconds`, so a busy
key costs one query per few seconds, not one per request; runs in flight and that short delay let a key
go a little past its budget, never far.
"""

from __future__ import annotations

import time
import uuid
from datetime import datetime, timedelta

from clara_runner.clock import iso, utcnow
from clara_runner.errors import ClaraError
from clara_runner.service.keys.authenticate import Principal
from clara_runner.store import usage as usage_queries
from clara_runner.store.database import Database

_MAX_CACHED = 10_000


class UsageBudgetExhausted(ClaraError):
    code = "usage_budget_exhausted"
    status = 429
    error = "Usage budget exhausted"


def period_bounds(period: str, now: datetime) -> tuple[datetime, datetime]:
    """The UTC day or calendar month holding `now`: its start and the start of the next."""
    if period == "day":
        start = now.replace(hour=0, minute=0, second=0, microsecond=0)
        return start, start + timedelta(days=1)
    start = now.replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    following = (
        start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)
    )
    return start, following


class UsageBudgets:
    def __init__(self, database: Database, cache_seconds: float) -> None:
        self._database = database
        self._cache_seconds = cache_seconds
        self._used: dict[tuple[uuid.UUID, uuid.UUID, datetime], tuple[int, float]] = {}

    async def check(self, principal: Principal) -> None:
        """Refuse the request when the key has spent its deployment's budget for this period."""
        deployment = principal.deployment
        budget = deployment.usage_budget
        if budget is None:
            return
        now = utcnow()
        start, end = period_bounds(budget["period"], now)
        used = await self.used(deployment.id, principal.quota_id or principal.key_id, start)
        if used < budget["tokens"]:
            return
        raise UsageBudgetExhausted(
            f"This API key has used {used} of its {budget['tokens']} tokens this {budget['period']} (UTC); "
            f"it can run this workflow again from {iso(end)}, or the admin can raise the deployment's usageBudget",
            details={"budget": budget, "used": used, "resetsAt": iso(end)},
            headers={"Retry-After": str(max(1, int((end - now).total_seconds())))},
        )

    async def used(self, deployment_id: uuid.UUID, quota_id: uuid.UUID, since: datetime) -> int:
        key = (deployment_id, quota_id, since)
        cached = self._used.get(key)
        moment = time.monotonic()
        if cached is not None and moment - cached[1] < self._cache_seconds:
            return cached[0]
        async with self._database.read() as conn:
            used = await usage_queries.tokens_used(conn, deployment_id, quota_id, since)
        if len(self._used) >= _MAX_CACHED:
            self._used.clear()
        self._used[key] = (used, moment)
        return used
