"""A deployment's statistics over a time range (`GET /api/workflows/{slug}/stats`), and the short summary
each deployment of a list carries: computed by the database (`store/stats.py`), shaped here.

Every bucket of the range is listed, those without runs with zeros, so a chart needs no gap filling.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TypeVar

from clara_runner.clock import utcnow
from clara_runner.service.stats.window import StatsWindow
from clara_runner.store import stats as stat_queries
from clara_runner.store.database import Connection, Database
from clara_runner.store.histogram import add, percentiles
from clara_runner.store.records import DeploymentRecord
from clara_runner.store.tables import UNFINISHED

T = TypeVar("T")

PERCENTILES = (50, 95, 99)

SUMMARY_SPAN = timedelta(hours=24)
"""The period a deployment list's summaries cover: the last 24 hours (a page of 100 deployments reads
their roll-ups of the period and the runs of the two hours it cuts; a longer period is the deployment's
own statistics, one at a time)."""


@dataclass(frozen=True, slots=True)
class Durations:
    """Nearest-rank percentiles of the finished runs' durations (ms), read from their histogram: each
    within `histogram.RELATIVE_ERROR` (1 %) of the exact value, rounded to the millisecond, exact under
    50 ms; None without a finished run."""

    p50: int | None = None
    p95: int | None = None
    p99: int | None = None

    @classmethod
    def of(cls, histogram: stat_queries.Histogram | None) -> Durations:
        values = None if histogram is None else percentiles(histogram, PERCENTILES)
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
        """The counts and the histograms are read at once, each on a connection of its own; the range's
        histogram is the sum of its buckets'."""
        ids, start, end = [deployment.id], window.start, window.end
        counts, histograms = await asyncio.gather(
            self._read(stat_queries.status_counts, ids, start, end, window.bucket),
            self._read(stat_queries.duration_histograms, ids, start, end, window.bucket),
        )
        buckets = {moment: BucketStats(moment, Usage()) for moment in window.bucket_starts()}
        total: stat_queries.Histogram = {}
        for key, histogram in histograms.items():
            buckets[key].usage.durations = Durations.of(histogram)
            add(total, histogram)
        totals = Usage(durations=Durations.of(total))
        for count in counts:
            buckets[count.group].usage.add(count)
            totals.add(count)
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
            counts, durations = await asyncio.gather(
                self._read(stat_queries.status_counts, ids, start, end, "deployment"),
                self._read(stat_queries.duration_histograms, ids, start, end, "deployment"),
            )
            for count in counts:
                usages[count.group].add(count)
            for deployment_id, histogram in durations.items():
                usages[deployment_id].durations = Durations.of(histogram)
        return {
            deployment.id: DeploymentSummary(start, end, usages[deployment.id], deployment.last_executed_at)
            for deployment in deployments
        }

    async def _read(
        self,
        query: Callable[[Connection, list[uuid.UUID], datetime, datetime, stat_queries.Grouping], Awaitable[T]],
        ids: list[uuid.UUID],
        start: datetime,
        end: datetime,
        grouping: stat_queries.Grouping,
    ) -> T:
        async with self._database.read() as conn:
            return await query(conn, ids, start, end, grouping)
