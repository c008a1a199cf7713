"""A batch of execution snapshots on PostgreSQL: one statement, one round trip, one commit.

The rows travel as one array per column and are unpacked with `unnest`, so the statement text is the
same for every batch size and is prepared once per connection. Data-modifying CTEs then upsert the
rows (a final status is never replaced), count the final ones on their deployments and touch their
keys, all in the statement's own implicit transaction. The writer holds its own connection in
autocommit mode, outside SQLAlchemy's pool: this is the hot path, and it needs no pool checkout, no
pre-ping and no BEGIN/COMMIT round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg import errors as pg_errors

from clara_runner.store.records import ExecutionWrite
from clara_runner.store.writer import BatchRefused, BatchUnavailable

UPSERT = """
WITH batch AS (
    SELECT * FROM unnest(
        %s::uuid[], %s::uuid[], %s::int4[], %s::uuid[], %s::text[], %s::text[], %s::text[], %s::text[],
        %s::text[], %s::int4[], %s::int4[], %s::text[], %s::timestamptz[], %s::timestamptz[], %s::uuid[],
        %s::bool[]
    ) AS b(
        id, deployment_id, version, api_key_id, status, inputs, outputs, error_code,
        error_message, duration_ms, nodes_executed, trace, created_at, finished_at, owner_id,
        output_mismatch
    )
), written AS (
    INSERT INTO executions (
        id, deployment_id, version, api_key_id, status, inputs, outputs, error_code,
        error_message, duration_ms, nodes_executed, trace, created_at, finished_at, owner_id
    )
    SELECT
        id, deployment_id, version, api_key_id, status, inputs::jsonb, outputs::jsonb, error_code,
        error_message, duration_ms, nodes_executed, trace::jsonb, created_at, finished_at, owner_id
    FROM batch
    ON CONFLICT (id) DO UPDATE SET
        version = excluded.version, status = excluded.status, inputs = excluded.inputs,
        outputs = excluded.outputs, error_code = excluded.error_code, error_message = excluded.error_message,
        duration_ms = excluded.duration_ms, nodes_executed = excluded.nodes_executed, trace = excluded.trace,
        finished_at = excluded.finished_at, owner_id = excluded.owner_id
        WHERE executions.status IN ('queued', 'running')
    RETURNING id, status
), counted AS (
    SELECT batch.deployment_id, batch.api_key_id, batch.finished_at, batch.output_mismatch
    FROM written JOIN batch ON batch.id = written.id
    WHERE written.status NOT IN ('queued', 'running')
), deployments_counted AS (
    UPDATE deployments SET
        execution_count = deployments.execution_count + c.runs,
        output_schema_mismatches = deployments.output_schema_mismatches + c.mismatches,
        last_executed_at = GREATEST(deployments.last_executed_at, c.latest)
    FROM (
        SELECT deployment_id, count(*) AS runs, count(*) FILTER (WHERE output_mismatch) AS mismatches,
            max(finished_at) AS latest
        FROM counted GROUP BY deployment_id
    ) AS c
    WHERE deployments.id = c.deployment_id
    RETURNING 1
), keys_touched AS (
    UPDATE api_keys SET last_used_at = GREATEST(api_keys.last_used_at, k.latest)
    FROM (
        SELECT api_key_id, max(finished_at) AS latest FROM counted WHERE api_key_id IS NOT NULL GROUP BY api_key_id
    ) AS k
    WHERE api_keys.id = k.api_key_id
    RETURNING 1
)
SELECT count(*) FROM written
"""
"""Column arrays in the order of `_columns`; `output_mismatch` is counted, not stored."""


def _columns(rows: Sequence[ExecutionWrite]) -> list[list[Any]]:
    return [
        [row.id for row in rows],
        [row.deployment_id for row in rows],
        [row.version for row in rows],
        [row.api_key_id for row in rows],
        [row.status for row in rows],
        [row.inputs_json for row in rows],
        [row.outputs_json for row in rows],
        [row.error_code for row in rows],
        [row.error_message for row in rows],
        [row.duration_ms for row in rows],
        [row.nodes_executed for row in rows],
        [row.trace_json for row in rows],
        [row.created_at for row in rows],
        [row.finished_at for row in rows],
        [row.owner_id for row in rows],
        [row.output_mismatch for row in rows],
    ]


_RETRIED = (pg_errors.DeadlockDetected, pg_errors.SerializationFailure)
"""Two processes' batches may lock the same deployments in opposite orders; PostgreSQL aborts one."""
_ATTEMPTS = 3


class PostgresBatches:
    """`writer.BatchStore` on a connection of its own, opened on first use and again after a failure."""

    def __init__(
        self, conninfo: str, observers: Sequence[Callable[[str], None]] = (), timeout_seconds: float = 10.0
    ) -> None:
        self._conninfo = conninfo
        self._observers = observers
        self._timeout = timeout_seconds
        """A database that does not answer within this time is treated as unreachable."""
        self._connection: psycopg.AsyncConnection[Any] | None = None

    async def write(self, rows: Sequence[ExecutionWrite]) -> None:
        columns = _columns(rows)
        for attempt in range(_ATTEMPTS):
            try:
                async with asyncio.timeout(self._timeout):
                    connection = await self._connect()
                    for observer in self._observers:
                        observer(UPSERT)
                    await connection.execute(UPSERT, columns, prepare=True)
                return
            except TimeoutError as exc:
                await self._discard()
                raise BatchUnavailable("the database did not answer in time") from exc
            except _RETRIED:
                if attempt == _ATTEMPTS - 1:
                    raise BatchUnavailable() from None
            except (psycopg.DataError, psycopg.IntegrityError, psycopg.ProgrammingError, OverflowError) as exc:
                raise BatchRefused(_first_line(exc)) from exc
            except psycopg.Error as exc:
                await self._discard()
                raise BatchUnavailable(_first_line(exc)) from exc

    async def ping(self) -> None:
        try:
            async with asyncio.timeout(self._timeout):
                await (await self._connect()).execute("SELECT 1")
        except (psycopg.Error, TimeoutError) as exc:
            await self._discard()
            raise BatchUnavailable(_first_line(exc)) from exc

    async def close(self) -> None:
        await self._discard()

    async def _connect(self) -> psycopg.AsyncConnection[Any]:
        if self._connection is None or self._connection.closed:
            self._connection = await psycopg.AsyncConnection.connect(
                self._conninfo, autocommit=True, connect_timeout=max(1, round(self._timeout))
            )
        return self._connection

    async def _discard(self) -> None:
        connection, self._connection = self._connection, None
        if connection is not None:
            with contextlib.suppress(psycopg.Error):
                await connection.close()


def _first_line(error: BaseException) -> str:
    return (str(error).strip().splitlines() or [type(error).__name__])[0]
