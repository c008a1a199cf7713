"""Hourly roll-ups of final executions (`tables.execution_rollups`), kept by the writes that make a run
final, so statistics read one row per deployment, hour and status instead of every run.

A run is added to the roll-up of its deployment, the hour (UTC) of its `created_at` and its final status,
once, in the transaction that gives its row a final status: the execution writer's batch (SQLite:
`writer_sqlite.py`, from the rows it found not final yet; PostgreSQL: `writer_postgres.py`, from its
`counted` CTE, with `ROLL_UP_COUNTED`) and the orphan sweep (`leases.interrupt_orphans`, with `add`). A
batch costs one upsert per (deployment, hour, status) among its newly final rows. Retention deletes a
roll-up once every run it counts is past the retention period (`service/housekeeping/retention.py`).

`durations` is the histogram (`histogram.py`) of the finished runs that have a duration, a JSON object
from bucket number to runs; an upsert adds the new counts to the stored ones, key by key, in SQL.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import orjson
from sqlalchemy import Connection, TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from clara_runner.store.histogram import BUCKET_SQL, bucket_of
from clara_runner.store.tables import STATS_COLUMNS, UNFINISHED, executions

_COLUMNS = "deployment_id, hour, status, runs, output_mismatches, prompt_tokens, completion_tokens, durations"
_ADD_TOKENS = (
    "{name} = CASE WHEN excluded.{name} IS NULL THEN execution_rollups.{name} "
    "ELSE coalesce(execution_rollups.{name}, 0) + excluded.{name} END"
)
_ON_CONFLICT = f"""
ON CONFLICT (deployment_id, hour, status) DO UPDATE SET
    runs = execution_rollups.runs + excluded.runs,
    output_mismatches = execution_rollups.output_mismatches + excluded.output_mismatches,
    {_ADD_TOKENS.format(name="prompt_tokens")},
    {_ADD_TOKENS.format(name="completion_tokens")},
    durations = {{durations}}"""
SQLITE_UPSERT = f"""
INSERT INTO execution_rollups ({_COLUMNS})
VALUES (:deployment_id, :hour, :status, :runs, :output_mismatches, :prompt_tokens, :completion_tokens, :durations)
{
    _ON_CONFLICT.format(
        durations="(SELECT json_group_object(key, total) FROM (SELECT key, sum(value) AS total FROM ("
        "SELECT key, value FROM json_each(execution_rollups.durations) "
        "UNION ALL SELECT key, value FROM json_each(excluded.durations)) GROUP BY key))"
    )
}"""  # noqa: S608 (constants only)
"""Named parameters (`sqlite_parameters`): the writer's own sqlite3 connection runs it as SQLAlchemy does."""
_POSTGRES_CONFLICT = _ON_CONFLICT.format(
    durations="(SELECT coalesce(jsonb_object_agg(key, total), '{}') FROM (SELECT key, sum(value::bigint) AS total "
    "FROM (SELECT * FROM jsonb_each_text(execution_rollups.durations) "
    "UNION ALL SELECT * FROM jsonb_each_text(excluded.durations)) AS entries GROUP BY key) AS merged)"
)
POSTGRES_UPSERT = f"""
INSERT INTO execution_rollups ({_COLUMNS})
VALUES (:deployment_id, :hour, :status, :runs, :output_mismatches, :prompt_tokens, :completion_tokens,
    CAST(:durations AS jsonb))
{_POSTGRES_CONFLICT}"""  # noqa: S608 (constants only)
ROLL_UP_COUNTED = f"""
    INSERT INTO execution_rollups ({_COLUMNS})
    SELECT deployment_id, hour, status, sum(runs), sum(mismatches), sum(prompt_tokens), sum(completion_tokens),
        coalesce(jsonb_object_agg(bucket, runs) FILTER (WHERE bucket IS NOT NULL), '{{}}')
    FROM (
        SELECT deployment_id, date_trunc('hour', created_at, 'UTC') AS hour, status,
            {BUCKET_SQL.format(d="duration_ms")} AS bucket, count(*) AS runs,
            count(*) FILTER (WHERE output_mismatch) AS mismatches,
            sum(prompt_tokens) AS prompt_tokens, sum(completion_tokens) AS completion_tokens
        FROM counted GROUP BY 1, 2, 3, 4
    ) AS by_bucket
    GROUP BY deployment_id, hour, status
    ORDER BY deployment_id, hour, status
    {_POSTGRES_CONFLICT}
    RETURNING 1"""  # noqa: S608 (constants only)
"""The PostgreSQL writer's CTE: rolls up `counted` (its newly final rows: deployment_id, created_at,
status, duration_ms, output_mismatch, prompt_tokens, completion_tokens) in the batch's own statement,
locking the roll-ups in one order so that two processes' batches rarely deadlock on them."""


class FinalRun(Protocol):
    """What a roll-up needs of a run that just became final (an `ExecutionWrite`, a swept row)."""

    @property
    def deployment_id(self) -> uuid.UUID: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def status(self) -> str: ...
    @property
    def duration_ms(self) -> int | None: ...
    @property
    def output_mismatch(self) -> bool: ...
    @property
    def prompt_tokens(self) -> int | None: ...
    @property
    def completion_tokens(self) -> int | None: ...


@dataclass(slots=True)
class Rollup:
    deployment_id: uuid.UUID
    hour: datetime
    status: str
    runs: int = 0
    output_mismatches: int = 0
    prompt_tokens: int | None = None
    completion_tokens: int | None = None
    durations: dict[int, int] = field(default_factory=dict)


def hour_of(moment: datetime) -> datetime:
    return moment.astimezone(UTC).replace(minute=0, second=0, microsecond=0)


def roll_up(runs: Iterable[FinalRun]) -> list[Rollup]:
    """The runs' additions to the roll-ups, one per (deployment, hour, status)."""
    groups: dict[tuple[uuid.UUID, datetime, str], Rollup] = {}
    for run in runs:
        hour = hour_of(run.created_at)
        key = (run.deployment_id, hour, run.status)
        rollup = groups.get(key)
        if rollup is None:
            rollup = groups[key] = Rollup(run.deployment_id, hour, run.status)
        rollup.runs += 1
        rollup.output_mismatches += bool(run.output_mismatch)
        if run.prompt_tokens is not None:
            rollup.prompt_tokens = (rollup.prompt_tokens or 0) + run.prompt_tokens
        if run.completion_tokens is not None:
            rollup.completion_tokens = (rollup.completion_tokens or 0) + run.completion_tokens
        if run.duration_ms is not None:
            bucket = bucket_of(run.duration_ms)
            rollup.durations[bucket] = rollup.durations.get(bucket, 0) + 1
    return list(groups.values())


def _values(rollup: Rollup) -> dict[str, Any]:
    return {
        "status": rollup.status,
        "runs": rollup.runs,
        "output_mismatches": rollup.output_mismatches,
        "prompt_tokens": rollup.prompt_tokens,
        "completion_tokens": rollup.completion_tokens,
        "durations": orjson.dumps(rollup.durations, option=orjson.OPT_NON_STR_KEYS).decode(),
    }


def sqlite_parameters(rollup: Rollup) -> dict[str, Any]:
    """The values in the forms SQLAlchemy stores on SQLite (hex UUID, naive UTC timestamp text)."""
    return {
        "deployment_id": rollup.deployment_id.hex,
        "hour": rollup.hour.strftime("%Y-%m-%d %H:%M:%S.%f"),
        **_values(rollup),
    }


def upsert(dialect: str, rollups: Sequence[Rollup]) -> tuple[TextClause, list[dict[str, Any]]]:
    """The statement adding the roll-ups to the stored ones on a SQLAlchemy connection, and its values."""
    if dialect == "sqlite":
        return text(SQLITE_UPSERT), [sqlite_parameters(rollup) for rollup in rollups]
    values = [{"deployment_id": rollup.deployment_id, "hour": rollup.hour, **_values(rollup)} for rollup in rollups]
    return text(POSTGRES_UPSERT), values


async def add(conn: AsyncConnection, rollups: Sequence[Rollup]) -> None:
    """Add to the stored roll-ups, in the caller's transaction."""
    if rollups:
        await conn.execute(*upsert(conn.dialect.name, rollups))


def back_fill(conn: Connection, batch_size: int = 5000) -> None:
    """Add every final run stored to the roll-ups (which are empty: runs already counted would count twice),
    reading them once, `batch_size` at a time: for a database whose runs were written before roll-ups were
    kept (migration 0015)."""
    query = (
        select(*(executions.c[name] for name in STATS_COLUMNS))
        .where(executions.c.status.not_in(UNFINISHED))
        .execution_options(stream_results=True, yield_per=batch_size)
    )
    for part in conn.execute(query).partitions():
        conn.execute(*upsert(conn.dialect.name, roll_up(part)))
