"""The usage report of a deployment: per API key, the executions, tokens and cost of the current UTC day
or calendar month, and what is left of the deployment's usage budget."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from clara_runner.clock import utcnow
from clara_runner.errors import InvalidParameter
from clara_runner.service.access import Access, Caller
from clara_runner.service.execution.budgets import period_bounds
from clara_runner.store import usage as usage_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.usage import KeyUsage

PERIODS = ("day", "month")


@dataclass(frozen=True, slots=True)
class UsageReport:
    deployment: DeploymentRecord
    period: str
    since: datetime
    until: datetime
    keys: list[KeyUsage]

    def remaining(self, key: KeyUsage) -> int | None:
        """Tokens the key may still spend this period under the budget (shared with its quota's keys)."""
        budget = self.deployment.usage_budget
        if budget is None or budget["period"] != self.period:
            return None
        sharing = [other for other in self.keys if other.quota_id == key.quota_id]
        spent = sum(other.prompt_tokens + other.completion_tokens for other in sharing)
        tokens: int = budget["tokens"]
        return max(0, tokens - spent)


class UsageReports:
    def __init__(self, database: Database, access: Access) -> None:
        self._database = database
        self._access = access

    async def report(self, caller: Caller, slug: str, period: str | None) -> UsageReport:
        deployment = await self._access.deployment(caller, "read the usage of", slug=slug)
        chosen = period or (deployment.usage_budget or {}).get("period", "month")
        if chosen not in PERIODS:
            raise InvalidParameter("period must be day or month", details={"validationErrors": ["period"]})
        since, until = period_bounds(chosen, utcnow())
        async with self._database.read() as conn:
            keys = await usage_queries.usage_by_key(conn, deployment.id, since)
        return UsageReport(deployment, chosen, since, until, keys)
