"""A deployment's statistics over a time range (`GET /api/workflows/{slug}/stats`), and the short summary
each deployment of a list carries: computed by the database (`store/stats.py`), shaped here.

Every bucket of the range is listed, those without runs with zeros, so a chart needs no gap filling.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from clara_runner.clock import utcnow
from clara_runner.service.stats.window import StatsWindow
from clara_runner.store import stats as stat_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.tables import UNFINISHED

SUMMARY_SPAN = timedelta(hours=24)
"""The period a deployment list's summaries cover: the last 24 hours (a page of 100 busy deployments
reads every run of the period: a longer one is the deployment's own statistics, one at a time)."""
_BUCKET_KEY_FORMAT = {"hour": "%Y-%m-%d %H", "day": "%Y-%m-%d"}


@dataclass(frozen=True, slots=True)
class Durations:
    """Nearest-rank percentiles of the finished runs' durations (ms); None without a finished run."""

    p50: int | None = None
    p95: int | None = None
    p99: int | None = None

    @classmethod
    def of(cls, values: tuple[int, ...] | None) -> Durations:
        return cls() if values is None else cls(*values)


@dataclass(slots=True)
class Usage:
    runs: int = 0
    by_status: dict[str, int] = field(default_factory=dict)
    output_mismatches: int = 0
    durations: Durations = field(default_factory=Durations)
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    """Summed over the runs whose nodes reported usage; None when none did."""

    @property
    def finished(self) -> int:
        return self.runs - sum(self.by_status.get(status, 0) for status in UNFINISHED)

    @property
    def success_rate(self) -> float | None:
        """Successful runs among the finished ones (0 to 1), None when none finished."""
        finished = self.finished
        return None if finished == 0 else self.by_status.get("success", 0) / finished

    def add(self, count: stat_queries.StatusCount) -> None:
        self.runs += count.runs
        self.by_status[count.status] = self.by_status.get(count.status, 0) + count.runs
        self.output_mismatches += count.output_mismatches
        if count.prompt_tokens is not None and count.completion_tokens is not None:
            self.prompt_tokens = (self.prompt_tokens or 0) + count.prompt_tokens
            self.completion_tokens = (self.completion_tokens or 0) + count.completion_tokens


@dataclass(frozen=True, slots=True)
class BucketStats:
    start: datetime
    usage: Usage


@dataclass(frozen=True, slots=True)
class DeploymentStats:
    window: StatsWindow
    totals: Usage
    buckets: list[BucketStats]


@dataclass(frozen=True, slots=True)
class DeploymentSummary:
    """A deployment's runs over `SUMMARY_SPAN`, for a list."""

    start: datetime
    end: datetime
    usage: Usage
    last_run_at: datetime | None


class StatsService:
    def __init__(self, database: Database) -> None:
        self._database = database

    async def for_deployment(self, deployment: DeploymentRecord, window: StatsWindow) -> DeploymentStats:
        ids = [deployment.id]
        async with self._database.read() as conn:
            counts = await stat_queries.status_counts(conn, ids, window.start, window.end, window.bucket)
            bucket_durations = await stat_queries.duration_percentiles(
                conn, ids, window.start, window.end, window.bucket
            )
            total_durations = await stat_queries.duration_percentiles(conn, ids, window.start, window.end, "all")
        key_format = _BUCKET_KEY_FORMAT[window.bucket]
        buckets = {start.strftime(key_format): BucketStats(start, Usage()) for start in window.bucket_starts()}
        totals = Usage(durations=Durations.of(total_durations.get(None)))
        for count in counts:
            buckets[count.group].usage.add(count)
            totals.add(count)
        for key, values in bucket_durations.items():
            buckets[key].usage.durations = Durations.of(values)
        return DeploymentStats(window, totals, list(buckets.values()))

    async def summaries(
        self, deployments: Sequence[DeploymentRecord], now: datetime | None = None
    ) -> dict[uuid.UUID, DeploymentSummary]:
        """Each deployment's runs, success rate and p50/p95 duration over the last `SUMMARY_SPAN`, in two
        queries for the whole list."""
        end = now or utcnow()
        start = end - SUMMARY_SPAN
        usages = {deployment.id: Usage() for deployment in deployments}
        if usages:
            ids = list(usages)
            async with self._database.read() as conn:
                counts = await stat_queries.status_counts(conn, ids, start, end, "deployment")
                durations = await stat_queries.duration_percentiles(conn, ids, start, end, "deployment")
            for count in counts:
                usages[count.group].add(count)
            for deployment_id, values in durations.items():
                usages[deployment_id].durations = Durations.of(values)
        return {
            deployment.id: DeploymentSummary(start, end, usages[deployment.id], deployment.last_executed_at)
            for deployment in deployments
        }
