"""Execution statistics computed by the database: runs by status, output mismatches, tokens and duration
percentiles, grouped by time bucket or by deployment, over a time range of `created_at`.

Both queries read only `ix_executions_deployment_stats` (`tables.STATS_COLUMNS`). Percentiles are
nearest-rank: the smallest duration with at least p% of the runs at or below it. PostgreSQL computes
them with `percentile_disc`; SQLite, which has no percentile function, with window functions (each
run's rank in its group, and the group's size), which give the same values.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from sqlalchemy import ColumnElement, String, case, func, literal, select
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.tables import UNFINISHED, executions

Grouping = Literal["hour", "day", "deployment", "all"]
"""What rows are grouped by: the hour or day (UTC) they started in, their deployment, or nothing."""

PERCENTILES = (50, 95, 99)

_BUCKET_TEXT = {"hour": 13, "day": 10}
"""Bucket keys are the start time's text cut after the hour or the day: `2026-12-06 11` or `2026-12-06`."""
_POSTGRES_FORMAT = {"hour": "YYYY-MM-DD HH24", "day": "YYYY-MM-DD"}


@dataclass(frozen=True, slots=True)
class StatusCount:
    group: Any
    """The bucket's key text (`hour`, `day`), the deployment id (`deployment`), or None (`all`)."""
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
        return func.to_char(func.timezone("UTC", executions.c.created_at), _POSTGRES_FORMAT[grouping], type_=String)
    return func.substr(executions.c.created_at, 1, _BUCKET_TEXT[grouping], type_=String)


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
            None if grouping == "all" else row.g,
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
                func.row_number().over(partition_by=partition, order_by=duration).label("rank"),
                func.count().over(partition_by=partition, order_by=duration, rows=(None, None)).label("n"),
            )
            .where(*finished)
            .subquery()
        )
        query = select(
            ranked.c.g,
            *(func.min(_at_rank(ranked.c.rank, ranked.c.n, ranked.c.d, p)).label(f"p{p}") for p in PERCENTILES),
        )
        group = ranked.c.g
    if grouping != "all":
        query = query.group_by(group)
    rows = await conn.execute(query)
    return {
        None if grouping == "all" else row.g: tuple(int(getattr(row, f"p{p}")) for p in PERCENTILES)
        for row in rows
        if row.p50 is not None
    }


def _at_rank(rank: Any, size: Any, value: Any, percent: int) -> ColumnElement[Any]:
    """`value` where the run's rank reaches `percent` of its group (integer arithmetic, no rounding)."""
    return case((rank * 100 >= size * percent, value))


def _whole(total: Any) -> int | None:
    """A SUM as an int (PostgreSQL sums integers as numeric); None stays None."""
    return None if total is None else int(total)
