"""One admitted request as its execution row says it, filled in as the run gets further.

The row is written as snapshots through the process's execution writer, from the moment the run gets
its execution slot (a request refused or interrupted before that leaves no row):

* a run that ends quickly writes only its final row (one write, group-committed with others);
* a run still going `threshold` seconds after it started gets a `running` snapshot written then,
  without waiting for it;
* a run about to make its first outbound call waits until a `running` snapshot is stored, so a run
  that caused a side effect always has a row.

A run still going after `threshold` also starts listening for its caller hanging up: a caller that
closes the connection will never read the answer, so the run is cancelled (and recorded `cancelled`)
instead of spending more model calls on nobody.

Unfinished snapshots name the process's lease (`owner_id`): if the process dies, any live process
marks them `interrupted` once the lease expires. The final snapshot replaces them, and nothing
replaces a final one.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime

import structlog

from clara_runner.clock import utcnow
from clara_runner.errors import ClientClosedRequest
from clara_runner.flow.events import TraceRecorder
from clara_runner.service.keys.authenticate import Principal
from clara_runner.store.records import ExecutionWrite
from clara_runner.store.tables import UNFINISHED
from clara_runner.store.writer import ExecutionWriter

Disconnection = Callable[[], Awaitable[None]]
"""Returns once the caller has closed its connection."""

CALLER_GONE = ClientClosedRequest.code

log = structlog.get_logger(__name__)


class RunRecord:
    __slots__ = (
        "_running_stored",
        "_timer",
        "_until_disconnected",
        "_watcher",
        "_writer",
        "began",
        "cost_micros",
        "created_at",
        "error_code",
        "error_message",
        "execution_id",
        "finished_at",
        "inputs_json",
        "interrupted_by",
        "nodes_executed",
        "on_running_stored",
        "output_mismatch",
        "outputs_json",
        "owner_id",
        "principal",
        "status",
        "stored_outputs_json",
        "task",
        "threshold",
        "trace",
        "trace_json",
        "version",
        "written",
    )

    def __init__(
        self,
        principal: Principal,
        owner_id: uuid.UUID,
        writer: ExecutionWriter,
        threshold: float,
        until_disconnected: Disconnection | None = None,
        execution_id: uuid.UUID | None = None,
    ) -> None:
        self.principal = principal
        self._until_disconnected = until_disconnected
        self._watcher: asyncio.Task[None] | None = None
        self.owner_id = owner_id
        self._writer = writer
        self.execution_id = execution_id or uuid.uuid4()
        self.created_at: datetime = utcnow()
        self.began = time.perf_counter()
        self.trace = TraceRecorder()
        self.version = principal.deployment.current_version
        self.status = "queued"
        """`queued` until the run gets its execution slot."""
        self.inputs_json: bytes | None = None
        self.outputs_json: bytes | None = None
        """The outputs as returned to the caller."""
        self.stored_outputs_json: bytes | None = None
        self.trace_json: bytes | None = None
        self.error_code: str | None = None
        self.error_message: str | None = None
        self.output_mismatch = False
        self.nodes_executed = 0
        self.cost_micros: int | None = None
        self.finished_at: datetime | None = None
        self.written: str | None = None
        """The status of the latest snapshot handed to the writer, if any."""
        self._running_stored: asyncio.Future[bool] | None = None
        """The `running` snapshot's write, once handed over (by the threshold timer or the first outbound call)."""
        self.interrupted_by: str | None = None
        """Why the server cancelled the run (`server_shutdown`), when it did."""
        self.task = asyncio.current_task()
        self.threshold = threshold
        self._timer: asyncio.TimerHandle | None = None
        self.on_running_stored: Callable[[], None] | None = None
        """Called once the `running` snapshot is stored (a detached run is acknowledged then)."""

    @property
    def started(self) -> bool:
        return self.status != "queued"

    def start(self) -> None:
        """The run got its execution slot."""
        self.status = "running"
        self._timer = asyncio.get_running_loop().call_later(self.threshold, self._still_going)

    async def store_running(self) -> None:
        """Return once a `running` snapshot of the run is stored: before its first outbound call (the
        run's outbound hook), and before a run the caller will not wait for is acknowledged."""
        if self._running_stored is None:
            self._running_stored = self._hand_over()
        await asyncio.shield(self._running_stored)

    def when_running_stored(self, callback: Callable[[], None]) -> None:
        """Call `callback` once the `running` snapshot is stored, whether it was handed over already (the
        threshold can pass before a busy run reaches its first node) or will be."""
        if self._running_stored is None:
            self.on_running_stored = callback
        else:
            self._running_stored.add_done_callback(lambda _: callback())

    def fail(self, code: str, message: str, status: str = "error") -> None:
        self.status, self.error_code, self.error_message = status, code, message

    def interrupt(self, reason: str) -> None:
        """Cancel the run on the server's behalf (the caller learns `reason` from the recorded row)."""
        self.interrupted_by = reason
        if self.task is not None:
            self.task.cancel(reason)

    @property
    def final(self) -> bool:
        return self.status not in UNFINISHED

    @property
    def duration_ms(self) -> int:
        return round((time.perf_counter() - self.began) * 1000)

    def snapshot(self) -> ExecutionWrite:
        """The row as it stands now."""
        outputs = self.stored_outputs_json or self.outputs_json
        return ExecutionWrite(
            id=self.execution_id,
            deployment_id=self.principal.deployment.id,
            version=self.version,
            api_key_id=self.principal.key_id,
            status=self.status,
            inputs_json=None if self.inputs_json is None else self.inputs_json.decode(),
            outputs_json=None if outputs is None else outputs.decode(),
            error_code=self.error_code,
            error_message=self.error_message,
            duration_ms=self.duration_ms if self.final else None,
            nodes_executed=self.nodes_executed,
            trace_json=None if self.trace_json is None else self.trace_json.decode(),
            created_at=self.created_at,
            finished_at=self.finished_at,
            owner_id=self.owner_id,
            output_mismatch=self.output_mismatch,
            first=self.written is None,
            prompt_tokens=self.trace.prompt_tokens,
            completion_tokens=self.trace.completion_tokens,
            cost_micros=self.cost_micros,
        )

    async def finish(self, seal: Callable[[ExecutionWrite], str | None] | None = None) -> ExecutionWrite:
        """Write the final row; return it once stored (or kept in memory while the database is down).

        A run that got no outcome (it can only be stopped by something the service does not catch) is
        recorded as an internal error: the row written here is always final. `seal`, given the final row
        of a run that wrote none before, returns the run's event log to store in it (or None)."""
        if not self.final:
            self.fail("internal_error", "The run stopped without an outcome")
        self._stop_watching()
        self.finished_at = utcnow()
        row = self.snapshot()
        if seal is not None and row.first:
            try:
                row.event_log = seal(row)
            except Exception:
                log.exception("run_log_not_sealed", execution_id=str(self.execution_id))
        self.written = row.status
        await self._writer.write(row)
        return row

    async def let_go(self) -> bool:
        """Write no more snapshots of the run: it is handed back to the queue backend's queue, for another
        worker to run and record. True once the snapshot already handed to the writer, if any, is stored,
        so nothing of this process overwrites the row once it changed hands; False if it is not (the
        database is unreachable: the run is recorded here after all)."""
        self._stop_watching()
        return self._running_stored is None or await asyncio.shield(self._running_stored)

    def _stop_watching(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
        if self._watcher is not None:
            self._watcher.cancel()

    def _still_going(self) -> None:
        if self._running_stored is None:
            self._running_stored = self._hand_over()
        if self._until_disconnected is not None:
            self._watcher = asyncio.create_task(self._cancel_when_abandoned(self._until_disconnected))

    async def _cancel_when_abandoned(self, until_disconnected: Disconnection) -> None:
        await until_disconnected()
        self.interrupt(CALLER_GONE)

    def _hand_over(self) -> asyncio.Future[bool]:
        """Give the writer the `running` snapshot; the future says when it is stored."""
        row = self.snapshot()
        self.written = row.status
        stored = self._writer.submit(row)
        if self.on_running_stored is not None:
            told = self.on_running_stored
            stored.add_done_callback(lambda _: told())
        return stored
