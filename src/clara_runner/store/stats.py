"""Execution statistics computed by the database: runs by status, output mismatches, tokens and duration
percentiles, grouped by time bucket or by deployment, over a time range of `created_at`.

Both queries read only `ix_executions_deployment_stats` (`tables.STATS_COLUMNS`). Percentiles are
nearest-rank: the smallest duration with at least p% of the runs at or below it. PostgreSQL computes
them with `percentile_disc`; SQLite, which has no percentile function, with the window function
`cume_dist` (the share of the group at or below each run: the smallest duration whose share reaches p%
is the same value), a third faster there than a rank and a group size.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, DateTime, String, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import UNFINISHED, executions

Grouping = Literal["hour", "day", "deployment", "all"]
"""What rows are grouped by: the hour or day (UTC) they started in, their deployment, or nothing."""

PERCENTILES = (50, 95, 99)

_SQLITE_BUCKET = {"hour": (13, "%Y-%m-%d %H"), "day": (10, "%Y-%m-%d")}
"""On SQLite a bucket is the start time's stored text cut after the hour or the day (`2026-12-06 11`):
cheaper per row than any date function. PostgreSQL truncates the time in UTC (`date_trunc`)."""


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


def _group(conn: AsyncConnection, grouping: Grouping) -> ColumnElement[Any]:
    if grouping == "deployment":
        return executions.c.deployment_id
    if grouping == "all":
        return literal("", String)
    if conn.dialect.name == "postgresql":
        return func.date_trunc(grouping, executions.c.created_at, "UTC", type_=DateTime(timezone=True))
    return func.substr(executions.c.created_at, 1, _SQLITE_BUCKET[grouping][0], type_=String)


def _key(grouping: Grouping, value: Any) -> Any:
    """The group's key as callers see it (see `StatusCount.group`)."""
    if grouping == "all":
        return None
    if isinstance(value, str):
        return datetime.strptime(value, _SQLITE_BUCKET[grouping][1]).replace(tzinfo=UTC)
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    return value


def _in_range(deployment_ids: Sequence[uuid.UUID], start: datetime, end: datetime) -> list[ColumnElement[bool]]:
    return [
        executions.c.deployment_id.in_(deployment_ids)
        if len(deployment_ids) != 1
        else executions.c.deployment_id == deployment_ids[0],
        executions.c.created_at >= start,
        executions.c.created_at < end,
    ]


async def status_counts(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], start: datetime, end: datetime, grouping: Grouping
) -> list[StatusCount]:
    """Runs started in [start, end) per group and status, with how many of them had mismatched outputs and
    the tokens they used."""
    group = _group(conn, grouping).label("g")
    query = (
        select(
            group,
            executions.c.status,
            func.count().label("runs"),
            func.count().filter(executions.c.output_mismatch).label("mismatches"),
            func.sum(executions.c.prompt_tokens).label("prompt_tokens"),
            func.sum(executions.c.completion_tokens).label("completion_tokens"),
        )
        .where(*_in_range(deployment_ids, start, end))
        .group_by(group, executions.c.status)
    )
    return [
        StatusCount(
            _key(grouping, row.g),
            row.status,
            row.runs,
            row.mismatches,
            _whole(row.prompt_tokens),
            _whole(row.completion_tokens),
        )
        for row in await conn.execute(query)
    ]


async def duration_percentiles(
    conn: AsyncConnection, deployment_ids: Sequence[uuid.UUID], start: datetime, end: datetime, grouping: Grouping
) -> dict[Any, tuple[int, ...]]:
    """The p50, p95 and p99 duration (ms) of the finished runs started in [start, end), per group (the key
    None for `all`); groups without a finished run are absent."""
    group: ColumnElement[Any] = _group(conn, grouping).label("g")
    finished = [
        *_in_range(deployment_ids, start, end),
        executions.c.status.not_in(UNFINISHED),
        executions.c.duration_ms.is_not(None),
    ]
    duration = executions.c.duration_ms
    if conn.dialect.name == "postgresql":
        query = select(
            group, *(func.percentile_disc(p / 100).within_group(duration).label(f"p{p}") for p in PERCENTILES)
        ).where(*finished)
    else:
        partition = [group] if grouping != "all" else None
        ranked = (
            select(
                group,
                duration.label("d"),
                func.cume_dist().over(partition_by=partition, order_by=duration).label("reached"),
            )
            .where(*finished)
            .subquery()
        )
        query = select(
            ranked.c.g,
            *(func.min(case((ranked.c.reached >= p / 100, ranked.c.d))).label(f"p{p}") for p in PERCENTILES),
        )
        group = ranked.c.g
    if grouping != "all":
        query = query.group_by(group)
    rows = await conn.execute(query)
    return {
        _key(grouping, row.g): tuple(int(getattr(row, f"p{p}")) for p in PERCENTILES)
        for row in rows
        if row.p50 is not None
    }


def _whole(total: Any) -> int | None:
    """A SUM as an int (PostgreSQL sums integers as numeric); None stays None."""
    return None if total is None else int(total)
