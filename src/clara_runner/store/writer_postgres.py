"""A batch of execution snapshots on PostgreSQL: one statement, one round trip, one commit.

Data-modifying CTEs upsert the rows (a final status is never replaced), count the final ones on their
deployments and in the statistics roll-ups (`rollups.ROLL_UP_COUNTED`) and touch their keys, all in the
statement's own implicit transaction. The writer holds
its own connection in autocommit mode, outside SQLAlchemy's pool: this is the hot path, and it needs
no pool checkout, no pre-ping and no BEGIN/COMMIT round trips.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Sequence
from typing import Any

import orjson
import psycopg
from psycopg import errors as pg_errors

from clara_runner.store.records import ExecutionWrite
from clara_runner.store.rollups import ROLL_UP_COUNTED
from clara_runner.store.writer import REPLACE_UNFINISHED, BatchRefused, BatchUnavailable

UPSERT = f"""
WITH batch AS (
    SELECT * FROM jsonb_to_recordset(%s::jsonb) AS b(
        id uuid, deployment_id uuid, version int, api_key_id uuid, status text, inputs jsonb, outputs jsonb,
        error_code text, error_message text, duration_ms int, nodes_executed int, trace jsonb,
        created_at timestamptz, finished_at timestamptz, owner_id uuid, output_mismatch bool,
        prompt_tokens int, completion_tokens int, event_log text, cost_micros bigint
    )
), written AS (
    INSERT INTO executions (
        id, deployment_id, version, api_key_id, status, inputs, outputs, error_code,
        error_message, duration_ms, nodes_executed, trace, created_at, finished_at, owner_id,
        prompt_tokens, completion_tokens, output_mismatch, event_log, cost_micros
    )
    SELECT
        id, deployment_id, version, api_key_id, status, inputs, outputs, error_code,
        error_message, duration_ms, nodes_executed, trace, created_at, finished_at, owner_id,
        prompt_tokens, completion_tokens, output_mismatch, event_log, cost_micros
    FROM batch
    {REPLACE_UNFINISHED}
    RETURNING id, status
), counted AS (
    SELECT batch.deployment_id, batch.api_key_id, batch.finished_at, batch.output_mismatch,
        batch.created_at, written.status, batch.duration_ms, batch.prompt_tokens, batch.completion_tokens
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
), rolled_up AS ({ROLL_UP_COUNTED}
)
SELECT count(*) FROM written
"""  # noqa: S608 (built from constants only)
"""The batch travels as one JSON array of rows (`_batch`), unpacked by `jsonb_to_recordset`: one
parameter encoded in C by orjson, the stored JSON values embedded as they are, and a statement text that
is the same for every batch size, so it is prepared once per connection."""


def _batch(rows: Sequence[ExecutionWrite]) -> bytes:
    return orjson.dumps(
        [
            {
                "id": row.id,
                "deployment_id": row.deployment_id,
                "version": row.version,
                "api_key_id": row.api_key_id,
                "status": row.status,
                "inputs": _embedded(row.inputs_json),
                "outputs": _embedded(row.outputs_json),
                "error_code": row.error_code,
                "error_message": row.error_message,
                "duration_ms": row.duration_ms,
                "nodes_executed": row.nodes_executed,
                "trace": _embedded(row.trace_json),
                "created_at": row.created_at,
                "finished_at": row.finished_at,
                "owner_id": row.owner_id,
                "output_mismatch": row.output_mismatch,
                "prompt_tokens": row.prompt_tokens,
                "completion_tokens": row.completion_tokens,
                "event_log": row.event_log,
                "cost_micros": row.cost_micros,
            }
            for row in rows
        ]
    )


def _embedded(encoded: str | None) -> orjson.Fragment | None:
    return None if encoded is None else orjson.Fragment(encoded)


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
        try:
            batch = _batch(rows)
        except orjson.JSONEncodeError as exc:
            raise BatchRefused(str(exc)) from exc
        for attempt in range(_ATTEMPTS):
            try:
                async with asyncio.timeout(self._timeout):
                    connection = await self._connect()
                    for observer in self._observers:
                        observer(UPSERT)
                    await connection.execute(UPSERT, (batch.decode(),), prepare=True)
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
