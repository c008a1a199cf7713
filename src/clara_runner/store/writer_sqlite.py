"""A batch of execution snapshots on SQLite: one `BEGIN IMMEDIATE` transaction on a connection of its own.

The connection lives in one thread of its own, and the transaction runs there while the event loop
goes on; the process's SQLite writer lock (`Database.write_lock`) is held meanwhile, so the writer
queues with the other writers of the process instead of meeting them in SQLite's busy handler. Values
are written in the forms SQLAlchemy reads back (UUIDs as 32 hex digits, naive UTC timestamps, JSON as
text), so the rest of the store reads these rows like any other.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import uuid
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from clara_runner.store import rollups
from clara_runner.store.records import ExecutionWrite
from clara_runner.store.writer import REPLACE_UNFINISHED, BatchRefused, BatchUnavailable

UPSERT = f"""
INSERT INTO executions (
    id, deployment_id, version, api_key_id, status, inputs, outputs, error_code,
    error_message, duration_ms, nodes_executed, trace, created_at, finished_at, owner_id,
    prompt_tokens, completion_tokens, output_mismatch, event_log, cost_micros
) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
{REPLACE_UNFINISHED}"""  # noqa: S608 (built from constants only)
ALREADY_FINAL = "SELECT id FROM executions WHERE status NOT IN ('queued', 'running') AND id IN ({})"
"""Formatted with one `?` per id of the batch."""
COUNT_ON_DEPLOYMENT = (
    "UPDATE deployments SET execution_count = execution_count + ?, "
    "output_schema_mismatches = output_schema_mismatches + ?, "
    "last_executed_at = max(coalesce(last_executed_at, ?), ?) WHERE id = ?"
)
TOUCH_KEY = "UPDATE api_keys SET last_used_at = max(coalesce(last_used_at, ?), ?) WHERE id = ?"
_PRAGMAS = (
    "PRAGMA journal_mode=WAL",
    "PRAGMA busy_timeout=30000",
    "PRAGMA synchronous=NORMAL",
    "PRAGMA foreign_keys=ON",
)


def _uuid(value: uuid.UUID | None) -> str | None:
    return None if value is None else value.hex


def _time(value: datetime | None) -> str | None:
    return None if value is None else value.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S.%f")


def _parameters(row: ExecutionWrite) -> tuple[Any, ...]:
    return (
        row.id.hex,
        row.deployment_id.hex,
        row.version,
        _uuid(row.api_key_id),
        row.status,
        row.inputs_json,
        row.outputs_json,
        row.error_code,
        row.error_message,
        row.duration_ms,
        row.nodes_executed,
        row.trace_json,
        _time(row.created_at),
        _time(row.finished_at),
        _uuid(row.owner_id),
        row.prompt_tokens,
        row.completion_tokens,
        row.output_mismatch,
        row.event_log,
        row.cost_micros,
    )


class SqliteBatches:
    """`writer.BatchStore` on the SQLite file at `path`."""

    def __init__(
        self,
        path: str,
        write_lock: contextlib.AbstractAsyncContextManager[Any],
        observers: Sequence[Callable[[str], None]] = (),
    ) -> None:
        self._path = path
        self._write_lock = write_lock
        self._observers = observers
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="sqlite-writer")
        self._connection: sqlite3.Connection | None = None

    async def write(self, rows: Sequence[ExecutionWrite]) -> None:
        async with self._write_lock:
            await self._in_thread(self._write, rows)

    async def ping(self) -> None:
        await self._in_thread(self._ping)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(self._thread, self._close)
        self._thread.shutdown(wait=True)

    async def _in_thread(self, work: Any, *args: Any) -> None:
        try:
            await asyncio.get_running_loop().run_in_executor(self._thread, work, *args)
        except sqlite3.OperationalError as exc:
            raise BatchUnavailable(str(exc)) from exc
        except (sqlite3.Error, OverflowError, ValueError, TypeError) as exc:
            raise BatchRefused(str(exc)) from exc

    def _connect(self) -> sqlite3.Connection:
        if self._connection is None:
            connection = sqlite3.connect(self._path, isolation_level=None, check_same_thread=True)
            for pragma in _PRAGMAS:
                connection.execute(pragma)
            connection.set_trace_callback(self._trace)
            self._connection = connection
        return self._connection

    def _write(self, rows: Sequence[ExecutionWrite]) -> None:
        connection = self._connect()
        connection.execute("BEGIN IMMEDIATE")
        try:
            already = self._already_final(connection, rows)
            fresh = [row for row in rows if row.id.hex not in already]
            connection.executemany(UPSERT, [_parameters(row) for row in fresh])
            self._count(connection, [row for row in fresh if row.final])
            connection.execute("COMMIT")
        except BaseException:
            if connection.in_transaction:
                connection.execute("ROLLBACK")
            raise

    @staticmethod
    def _already_final(connection: sqlite3.Connection, rows: Sequence[ExecutionWrite]) -> set[str]:
        """Ids of rows stored with a final status already; only runs written before can have one."""
        ids = [row.id.hex for row in rows if not row.first]
        if not ids:
            return set()
        found = connection.execute(ALREADY_FINAL.format(", ".join("?" for _ in ids)), ids).fetchall()
        return {row_id for (row_id,) in found}

    @staticmethod
    def _count(connection: sqlite3.Connection, finals: Sequence[ExecutionWrite]) -> None:
        runs: dict[uuid.UUID, list[ExecutionWrite]] = defaultdict(list)
        used: dict[uuid.UUID, datetime] = {}
        for row in finals:
            runs[row.deployment_id].append(row)
            finished = row.finished_at or row.created_at
            if row.api_key_id is not None:
                used[row.api_key_id] = max(finished, used.get(row.api_key_id, finished))
        counts = []
        for deployment_id, group in runs.items():
            latest = _time(max(row.finished_at or row.created_at for row in group))
            counts.append((len(group), sum(row.output_mismatch for row in group), latest, latest, deployment_id.hex))
        connection.executemany(COUNT_ON_DEPLOYMENT, counts)
        connection.executemany(TOUCH_KEY, [(_time(moment), _time(moment), key.hex) for key, moment in used.items()])
        connection.executemany(
            rollups.SQLITE_UPSERT, [rollups.sqlite_parameters(rollup) for rollup in rollups.roll_up(finals)]
        )

    def _trace(self, statement: str) -> None:
        """SQLite's own report of each statement it runs (an `executemany` reports every row)."""
        for observer in self._observers:
            observer(statement)

    def _ping(self) -> None:
        self._connect().execute("SELECT 1").fetchall()

    def _close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None
