"""Execution statistics computed by the database: runs by status, output mismatches, tokens and duration
histograms, grouped by time bucket or by deployment, over a time range of `created_at`.

The final runs of every whole hour of the range are read from their roll-ups (`execution_rollups`, kept
by the writes that make runs final: `store/rollups.py`), one row per deployment, hour and status. The
runs of an hour the range only partly covers (a `from` or `to` that is not on the hour) are read from
`ix_executions_deployment_stats`, those of the range's start and end only, so the range is exactly
[from, to); unfinished runs of the whole hours through the partial index on unfinished runs. Counts come
in one statement, so a run that becomes final meanwhile is counted once. Percentiles are read from the
histograms (`store/histogram.py`): nearest-rank, within 1 % of the exact value.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import orjson
from sqlalchemy import (
    Column,
    ColumnElement,
    DateTime,
    Select,
    String,
    Text,
    cast,
    func,
    literal,
    literal_column,
    select,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.histogram import add, bucket_of
from clara_runner.store.rollups import hour_of
from clara_runner.store.tables import UNFINISHED, UNFINISHED_CONDITION, execution_rollups, executions

Grouping = Literal["hour", "day", "deployment", "all"]
"""What runs are grouped by: the hour or day (UTC) they started in, their deployment, or nothing."""

Histogram = dict[int, int]
"""Runs per duration bucket (`store/histogram.py`)."""

_SQLITE_BUCKET = {"hour": (13, "%Y-%m-%d %H"), "day": (10, "%Y-%m-%d")}
"""On SQLite a bucket is the start time's stored text cut after the hour or the day (`2026-12-06 11`):
cheaper per row than any date function. PostgreSQL truncates the time in UTC (`date_trunc`)."""

_HOUR = timedelta(hours=1)


@dataclass(frozen=True, slots=True)
class StatusCount:
    group: Any
    """The bucket's start (`hour`, `day`: a UTC datetime), the deployment id (`deployment`), or None (`all`)."""
    status: str
    runs: int
    output_mismatches: int
    prompt_tokens: int | None
    completion_tokens: int | None
    """Token counts summed over the runs whose nodes reported usage (LLM nodes); None when none did."""


@dataclass(frozen=True, slots=True)
class _Span:
    """How a range is read: the whole hours from roll-ups, the cut hours at its ends from the runs."""

    hours: tuple[datetime, datetime] | None
    ends: list[tuple[datetime, datetime]]

    @classmethod
    def of(cls, start: datetime, end: datetime) -> _Span:
        first = hour_of(start) + (_HOUR if hour_of(start) < start else timedelta(0))
        last = hour_of(end)
        if first >= last:
            return cls(None, [(start, end)])
        return cls((first, last), [(low, high) for low, high in ((start, first), (last, end)) if low < high])


def _group(conn: AsyncConnection, grouping: Grouping, moment: Column[Any], deployment: Column[Any]) -> Any:
    if grouping == "deployment":
        return deployment
    if grouping == "all":
        return literal("", String)
    if conn.dialect.name == "postgresql":
        return func.date_trunc(grouping, moment, "UTC", type_=DateTime(timezone=True))
    return func.substr(moment, 1, _SQLITE_BUCKET[grouping][0], type_=String)


def _key(grouping: Grouping, value: Any) -> Any:
    """The group's key as callers see it (see `StatusCount.group`)."""
    if grouping == "all":
        return None
    if isinstance(value, str):
        return datetime.strptime(value, _SQLITE_BUCKET[grouping][1]).replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def _of(column: ColumnElement[Any], deployment_ids: Sequence[uuid.UUID]) -> ColumnElement[bool]:
    return column.in_(deployment_ids) if len(deployment_ids) != 1 else column == deployment_ids[0]


def _runs(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], grouping: Grouping, low: datetime, high: datetime
) -> Select[Any]:
    return select(_group(conn, grouping, executions.c.created_at, executions.c.deployment_id).label("g")).where(
        _of(executions.c.deployment_id, deployment_ids), executions.c.created_at >= low, executions.c.created_at < high
    )


def _unfinished(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], grouping: Grouping, low: datetime, high: datetime
) -> Select[Any]:
    """The unfinished runs started in [low, high), through `ix_executions_unfinished_by_time` (few rows: a
    final row leaves it). On SQLite the deployment is compared as `+deployment_id`, which no index can
    serve: its planner, without `ANALYZE` figures, would otherwise scan the statistics index over every run
    of the range, and the partial index is then the only one left."""
    deployment: ColumnElement[Any] = executions.c.deployment_id
    if conn.dialect.name == "sqlite":
        deployment = literal_column("+executions.deployment_id", executions.c.deployment_id.type)
    group = _group(conn, grouping, executions.c.created_at, executions.c.deployment_id).label("g")
    return select(group).where(
        _of(deployment, deployment_ids),
        executions.c.created_at >= low,
        executions.c.created_at < high,
        text(UNFINISHED_CONDITION),
    )


def _counted(query: Select[Any]) -> Select[Any]:
    return query.add_columns(
        executions.c.status,
        func.count().label("runs"),
        func.count().filter(executions.c.output_mismatch).label("mismatches"),
        func.sum(executions.c.prompt_tokens).label("prompt_tokens"),
        func.sum(executions.c.completion_tokens).label("completion_tokens"),
    ).group_by("g", executions.c.status)


async def status_counts(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], start: datetime, end: datetime, grouping: Grouping
) -> list[StatusCount]:
    """Runs started in [start, end) per group and status, with how many of them had mismatched outputs and
    the tokens they used."""
    span = _Span.of(start, end)
    parts = [_counted(_runs(conn, deployment_ids, grouping, low, high)) for low, high in span.ends]
    if span.hours is not None:
        first, last = span.hours
        group = _group(conn, grouping, execution_rollups.c.hour, execution_rollups.c.deployment_id).label("g")
        parts.append(
            select(
                group,
                execution_rollups.c.status,
                func.sum(execution_rollups.c.runs).label("runs"),
                func.sum(execution_rollups.c.output_mismatches).label("mismatches"),
                func.sum(execution_rollups.c.prompt_tokens).label("prompt_tokens"),
                func.sum(execution_rollups.c.completion_tokens).label("completion_tokens"),
            )
            .where(
                _of(execution_rollups.c.deployment_id, deployment_ids),
                execution_rollups.c.hour >= first,
                execution_rollups.c.hour < last,
            )
            .group_by(group, execution_rollups.c.status)
        )
        parts.append(_counted(_unfinished(conn, deployment_ids, grouping, first, last)))
    counts = union_all(*parts).subquery()
    query = select(
        counts.c.g,
        counts.c.status,
        func.sum(counts.c.runs).label("runs"),
        func.sum(counts.c.mismatches).label("mismatches"),
        func.sum(counts.c.prompt_tokens).label("prompt_tokens"),
        func.sum(counts.c.completion_tokens).label("completion_tokens"),
    ).group_by(counts.c.g, counts.c.status)
    return [
        StatusCount(
            _key(grouping, row.g),
            row.status,
            int(row.runs),
            int(row.mismatches),
            _whole(row.prompt_tokens),
            _whole(row.completion_tokens),
        )
        for row in await conn.execute(query)
    ]


async def duration_histograms(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], start: datetime, end: datetime, grouping: Grouping
) -> dict[Any, Histogram]:
    """The durations of the finished runs started in [start, end), per group (the key None for `all`);
    groups without a finished run with a duration are absent."""
    span = _Span.of(start, end)
    stored: dict[Any, dict[str, int]] = {}
    if span.hours is not None:
        first, last = span.hours
        group = _group(conn, grouping, execution_rollups.c.hour, execution_rollups.c.deployment_id).label("g")
        query = select(group, cast(execution_rollups.c.durations, Text).label("durations")).where(
            _of(execution_rollups.c.deployment_id, deployment_ids),
            execution_rollups.c.hour >= first,
            execution_rollups.c.hour < last,
        )
        for row in await conn.execute(query):
            add(stored.setdefault(_key(grouping, row.g), {}), orjson.loads(row.durations))
    histograms = {key: {int(bucket): runs for bucket, runs in counts.items()} for key, counts in stored.items()}
    for low, high in span.ends:
        query = (
            _runs(conn, deployment_ids, grouping, low, high)
            .add_columns(executions.c.duration_ms, func.count().label("runs"))
            .where(executions.c.status.not_in(UNFINISHED), executions.c.duration_ms.is_not(None))
            .group_by("g", executions.c.duration_ms)
        )
        for row in await conn.execute(query):
            add(histograms.setdefault(_key(grouping, row.g), {}), {bucket_of(row.duration_ms): row.runs})
    return {key: histogram for key, histogram in histograms.items() if histogram}


def _whole(total: Any) -> int | None:
    """A SUM as an int (PostgreSQL sums integers as numeric); None stays None."""
    return None if total is None else int(total)
