"""The execution writer: every execution row of a process, group-committed by one task.

Rows of concurrent runs are written together: while one batch is being committed, the rows that
arrive queue up and go in the next one, so a busy server pays one transaction (and one WAL flush) for
many rows, and a quiet one still writes each row at once. A run's response is released when the batch
holding its final row has committed (`write`), so an answered run is a recorded run. Snapshots of
unfinished runs (`queued`, `running`) go the same way; the snapshot written before a run's first
outbound call is awaited too, so the row exists before any side effect.

When the database cannot be reached, rows stay in memory, in order, and are written when it answers
again (a probe every `retry_seconds`); `write` then returns at once with False instead of waiting, so
finished runs are still answered with their real results. `accepting` turns False while the database
is unreachable or the buffer holds `buffer_limit` rows: the execute path refuses new runs then, before
any node runs. At shutdown the buffer is drained for up to the time given; rows the database still
refuses are saved as JSON lines in the spill folder, and the next writer to start there writes them.

A batch the database refuses for its content (a value it cannot store), or that fails in a way nobody
foresaw, is retried row by row; a row refused alone is stored without its inputs, outputs, trace and
duration, as an error saying so, and only a row refused even then is given up (and logged). The
per-database statements live in `writer_postgres.py` and `writer_sqlite.py`.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import os
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any, Protocol

import structlog

from clara_runner.store.records import ExecutionWrite

log = structlog.get_logger(__name__)

UNSTORABLE_CODE = "record_unstorable"

REPLACE_UNFINISHED = """
ON CONFLICT (id) DO UPDATE SET
    version = excluded.version, status = excluded.status, inputs = excluded.inputs,
    outputs = excluded.outputs, error_code = excluded.error_code, error_message = excluded.error_message,
    duration_ms = excluded.duration_ms, nodes_executed = excluded.nodes_executed, trace = excluded.trace,
    finished_at = excluded.finished_at, owner_id = excluded.owner_id,
    prompt_tokens = excluded.prompt_tokens, completion_tokens = excluded.completion_tokens,
    output_mismatch = excluded.output_mismatch, event_log = excluded.event_log,
    cost_micros = excluded.cost_micros
    WHERE executions.status IN ('queued', 'running')
"""
"""How a snapshot meets the row of its run, on both databases: it replaces an unfinished row and never a
final one."""


class BatchUnavailable(Exception):
    """The database could not be reached; nothing of the batch was written."""


class BatchRefused(Exception):
    """The database refused the batch for what it holds; nothing of the batch was written."""


class BatchStore(Protocol):
    """How one database stores a batch of snapshots atomically: all of them, or none."""

    async def write(self, rows: Sequence[ExecutionWrite]) -> None:
        """Store the snapshots; raise `BatchUnavailable` or `BatchRefused` when nothing was stored."""
        ...

    async def ping(self) -> None:
        """Raise `BatchUnavailable` unless the database answers."""
        ...

    async def close(self) -> None: ...


Observer = Callable[[int], None]
"""Told the size of every batch committed (the statement count test and metrics listen here)."""


@dataclasses.dataclass(slots=True)
class _Queued:
    row: ExecutionWrite
    done: asyncio.Future[bool] | None


class ExecutionWriter:
    def __init__(
        self,
        store: BatchStore,
        *,
        spill_dir: Path | None = None,
        max_batch: int = 500,
        buffer_limit: int = 10_000,
        retry_seconds: float = 1.0,
    ) -> None:
        self._store = store
        self._spill_dir = spill_dir
        self._max_batch = max_batch
        self._buffer_limit = buffer_limit
        self._retry_seconds = retry_seconds
        self._queue: deque[_Queued] = deque()
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._reachable = True
        self._closing = False
        self.observers: list[Observer] = []

    @property
    def reachable(self) -> bool:
        """The database answered the writer's latest attempt."""
        return self._reachable

    @property
    def accepting(self) -> bool:
        """New runs may start: the database is reachable and the buffer has room."""
        return self._reachable and not self._closing and len(self._queue) < self._buffer_limit

    @property
    def backlog(self) -> int:
        return len(self._queue)

    def start(self) -> None:
        self._load_spilled()
        self._task = asyncio.create_task(self._run(), name="execution-writer")

    def submit(self, row: ExecutionWrite) -> asyncio.Future[bool]:
        """Queue the snapshot. The future says when it is stored: True once committed, False when the
        database is unreachable and the row waits in memory (written later, or spilled at shutdown); while
        the database is known to be unreachable, it is False at once. Cancelling the future does not take
        the row back."""
        done: asyncio.Future[bool] = asyncio.get_running_loop().create_future()
        if self._reachable:
            self._queue.append(_Queued(row, done))
        else:
            self._queue.append(_Queued(row, None))
            done.set_result(False)
        self._wakeup.set()
        return done

    async def write(self, row: ExecutionWrite) -> bool:
        """Queue the snapshot and wait until it is stored (see `submit`)."""
        return await self.submit(row)

    def reachability_changed(self, reachable: bool) -> None:
        """Learn from another part of the process that the database stopped (or started) answering."""
        if not reachable:
            self._reachable = False
        self._wakeup.set()

    async def close(self, drain_seconds: float) -> None:
        """Write what is queued, for up to `drain_seconds`; spill the rest to disk."""
        self._closing = True
        self._wakeup.set()
        if self._task is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(drain_seconds):
                    await asyncio.shield(self._task)
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        self._spill()
        await self._store.close()

    async def _run(self) -> None:
        while True:
            if self._closing and not self._queue:
                return
            if not self._reachable:
                await self._wait(self._retry_seconds)
                await self._probe()
            elif self._queue:
                await self._flush()
            else:
                await self._wait(None)

    async def _wait(self, seconds: float | None) -> None:
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(seconds):
                await self._wakeup.wait()
        self._wakeup.clear()

    async def _probe(self) -> None:
        try:
            if self._queue:
                await self._flush()
            else:
                await self._store.ping()
                self._set_reachable(True)
        except BatchUnavailable:
            pass

    async def _flush(self) -> None:
        batch = [self._queue.popleft() for _ in range(min(self._max_batch, len(self._queue)))]
        rows = _latest_per_run(entry.row for entry in batch)
        try:
            await self._store.write(rows)
        except BatchUnavailable:
            self._queue.extendleft(reversed(batch))
            self._set_reachable(False)
            _resolve(batch, False)
            return
        except Exception as exc:
            if not isinstance(exc, BatchRefused):
                log.exception("execution_batch_failed")
            unwritten = await self._write_one_by_one(rows)
            if unwritten:
                self._queue.extendleft(_Queued(row, None) for row in reversed(unwritten))
                self._set_reachable(False)
                _resolve(batch, False)
                return
        self._set_reachable(True)
        for observer in self.observers:
            observer(len(rows))
        _resolve(batch, True)

    async def _write_one_by_one(self, rows: Sequence[ExecutionWrite]) -> list[ExecutionWrite]:
        """Write each row alone, a refused one without its payload; return the rows left unwritten because
        the database stopped answering meanwhile."""
        for index, row in enumerate(rows):
            try:
                try:
                    await self._store.write([row])
                except BatchUnavailable:
                    raise
                except Exception as exc:
                    log.error("execution_row_unstorable", execution_id=str(row.id), error=str(exc))
                    await self._store.write([_without_payload(row, str(exc))])
            except BatchUnavailable:
                return list(rows[index:])
            except Exception:
                log.exception("execution_row_lost", execution_id=str(row.id))
        return []

    def _set_reachable(self, reachable: bool) -> None:
        if reachable != self._reachable:
            log.warning("database_reachable" if reachable else "database_unreachable", buffered=len(self._queue))
        self._reachable = reachable

    def _spill(self) -> None:
        if not self._queue:
            return
        rows = _latest_per_run(entry.row for entry in self._queue)
        _resolve(list(self._queue), False)
        self._queue.clear()
        if self._spill_dir is None:
            log.error("execution_rows_lost", count=len(rows))
            return
        self._spill_dir.mkdir(parents=True, exist_ok=True)
        path = self._spill_dir / f"executions-{os.getpid()}-{uuid.uuid4().hex}.jsonl"
        with path.open("w") as handle:
            handle.writelines(json.dumps(_to_document(row)) + "\n" for row in rows)
        log.error("execution_rows_spilled", count=len(rows), path=str(path))

    def _load_spilled(self) -> None:
        if self._spill_dir is None or not self._spill_dir.is_dir():
            return
        for path in sorted(self._spill_dir.glob("executions-*.jsonl")):
            claimed = path.with_name(f"claimed-{uuid.uuid4().hex}-{path.name}")
            try:
                path.rename(claimed)
            except OSError:
                continue
            rows = [_from_document(json.loads(line)) for line in claimed.read_text().splitlines() if line]
            self._queue.extend(_Queued(row, None) for row in rows)
            claimed.unlink()
            log.warning("execution_rows_recovered", count=len(rows), path=str(path))


def _resolve(batch: Iterable[_Queued], stored: bool) -> None:
    for entry in batch:
        if entry.done is not None and not entry.done.done():
            entry.done.set_result(stored)


def _latest_per_run(rows: Iterable[ExecutionWrite]) -> list[ExecutionWrite]:
    """One snapshot per run, the latest (a final one beats any before it), in the order runs first appear."""
    latest: dict[uuid.UUID, ExecutionWrite] = {}
    for row in rows:
        if row.id in latest and latest[row.id].final and not row.final:
            continue
        latest[row.id] = row
    return list(latest.values())


def _without_payload(row: ExecutionWrite, reason: str) -> ExecutionWrite:
    return dataclasses.replace(
        row,
        status="error" if row.final else row.status,
        inputs_json=None,
        outputs_json=None,
        trace_json=None,
        event_log=None,
        duration_ms=None,
        nodes_executed=0,
        error_code=UNSTORABLE_CODE,
        error_message=f"The database refused this execution's record ({reason[:200]}); it is kept without its "
        "inputs, outputs, trace and duration",
    )


_UUIDS = ("id", "deployment_id", "api_key_id", "owner_id")
_TIMES = ("created_at", "finished_at")


def _to_document(row: ExecutionWrite) -> dict[str, Any]:
    document = dataclasses.asdict(row)
    for name in _UUIDS:
        document[name] = None if document[name] is None else str(document[name])
    for name in _TIMES:
        document[name] = None if document[name] is None else document[name].isoformat()
    return document


def _from_document(document: dict[str, Any]) -> ExecutionWrite:
    for name in _UUIDS:
        document[name] = None if document[name] is None else uuid.UUID(document[name])
    for name in _TIMES:
        document[name] = None if document[name] is None else datetime.fromisoformat(document[name])
    return ExecutionWrite(**document)
