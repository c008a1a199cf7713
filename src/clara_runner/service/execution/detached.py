"""Runs the caller does not wait for: started for the stream, async and wait modes of execute.

A detached run is an ordinary run (`runs.py`: same admission, slot, validation, deadline, row) in a task
of its own, so it goes on when the request that started it is answered or its connection drops. It is
acknowledged only once it holds an execution slot, its inputs are valid and a row of it is stored: a
refusal (429, 503 `at_capacity`, invalid input, a pinned version that does not exist) still reaches the
caller as an error, and a run the caller was told about always has a row, which a live process marks
`interrupted` if this one dies (`recovery.py`). A quick run is acknowledged by its final row, so an
asynchronous hello-world costs the one write a synchronous one does; a longer one by its `running` row,
written `DETACHED_RECORD_AFTER_MS` after it started or before its first outbound call.

Its events are kept in memory, where readers in this process follow them, until the recorder has stored
them all after the run ended (`forget`); from then on they are read from the database. A run that ends
before it is acknowledged is sealed instead (`Sealing`): its outcome is rendered and its whole log stored
in its final row, so an asynchronous hello-world costs no event write, no recorder flush and no handle.

Its outcome is rendered exactly as a synchronous response would be (`Render`): that body is the data of
its last event (`run.finished`, or `run.failed` with the error envelope), and what the wait mode
answers when the run ends in time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable

import structlog

from clara_runner.errors import ClaraError, DatabaseUnavailable
from clara_runner.service.execution.admission import Admission
from clara_runner.service.execution.event_log import RUN_FAILED, RUN_FINISHED, RUN_STARTED, RunEventLog
from clara_runner.service.execution.event_recorder import EventRecorder
from clara_runner.service.execution.idempotency import Render, Reply
from clara_runner.service.execution.record import RunRecord
from clara_runner.service.execution.runs import (
    Detachment,
    ExecutionOutcome,
    ExecutionService,
    HandedBack,
    ReceivedRequest,
)

log = structlog.get_logger(__name__)


class RunHandle:
    """A detached run of this process: its id, its live event log, and the task that ends with its reply."""

    __slots__ = ("execution_id", "log", "task", "version")

    def __init__(self, execution_id: uuid.UUID, log: RunEventLog, task: asyncio.Task[Reply], version: int) -> None:
        self.execution_id = execution_id
        self.log = log
        self.task = task
        self.version = version


class Sealing:
    """A detached run's `seal`: renders its outcome as its last event just before its final row is written,
    if that row is its first, and hands the closed log to the row. The reply is kept for the caller."""

    __slots__ = ("events", "render", "reply", "started")

    def __init__(self, events: RunEventLog, render: Render, started: asyncio.Future[int]) -> None:
        self.events = events
        self.render = render
        self.started = started
        self.reply: Reply | None = None

    def __call__(self, result: ExecutionOutcome | BaseException) -> str | None:
        if not self.started.done():
            return None
        reply = self.render(result if isinstance(result, ExecutionOutcome | ClaraError) else ClaraError())
        self.reply = reply
        self.events.append(RUN_FINISHED if reply.status < 300 else RUN_FAILED, reply.body)
        self.events.close()
        return self.events.sealed()


class DetachedRuns:
    def __init__(self, executions: ExecutionService, recorder: EventRecorder, render: Render) -> None:
        self._executions = executions
        self._recorder = recorder
        self._render = render
        self._handles: dict[uuid.UUID, RunHandle] = {}

    def get(self, execution_id: uuid.UUID) -> RunHandle | None:
        """The run, if it is still going in this process (its log is then complete in memory)."""
        return self._handles.get(execution_id)

    async def start(
        self, admission: Admission, request: ReceivedRequest, execution_id: uuid.UUID | None = None
    ) -> RunHandle:
        """Start the run (under `execution_id` when its row exists already: a run of the queue backend);
        return once a row of it is stored (its `running` row, or its final row if it ended first), or raise
        what refused it."""
        execution_id = execution_id or uuid.uuid4()
        events = RunEventLog(execution_id)
        loop = asyncio.get_running_loop()
        started: asyncio.Future[int] = loop.create_future()
        recorded: asyncio.Future[None] = loop.create_future()

        sealing = Sealing(events, self._render, started)

        def on_recorded() -> None:
            """The run has a stored row (its `running` one, or its final one as its task ends), or was refused."""
            if started.done() and sealing.reply is None:
                self._recorder.track(events)
            if not recorded.done():
                recorded.set_result(None)

        def on_started(run: RunRecord) -> None:
            run.when_running_stored(on_recorded)
            events.append(RUN_STARTED, {"executionId": str(execution_id), "version": run.version})
            started.set_result(run.version)

        detachment = Detachment(execution_id, events, on_started, sealing)
        task = asyncio.create_task(
            self._complete(admission, request, detachment, sealing, on_recorded), name="detached-run"
        )
        task.add_done_callback(lambda _: on_recorded())
        await recorded
        if not started.done():
            task.result()
            raise AssertionError("a detached run ended without starting or being refused")
        handle = RunHandle(execution_id, events, task, started.result())
        if sealing.reply is None:
            self._handles[execution_id] = handle
            if not events.closed:
                await self._store_events_so_far()
        return handle

    async def _store_events_so_far(self) -> None:
        """A run still going when acknowledged has its log stored before the caller hears of it (not at the
        next periodic flush), so that if this process dies its readers find the log, ending where the
        process did. Its nodes go on meanwhile: only the answer waits for this one write."""
        try:
            await self._recorder.flush_soon()
        except DatabaseUnavailable:
            log.warning("run_events_postponed", reason="database unreachable")

    def forget(self, events: RunEventLog) -> None:
        """The run's log is closed and stored: readers find it in the database from now on."""
        self._handles.pop(events.execution_id, None)

    async def _complete(
        self,
        admission: Admission,
        request: ReceivedRequest,
        detachment: Detachment,
        sealing: Sealing,
        ended: Callable[[], None],
    ) -> Reply:
        """Run, then log the outcome (unless the final row sealed it) and call `ended` at once: the caller
        of a quick run is answered in this turn of the event loop, not after the task's done callbacks in
        the next. A run handed back to the queue at shutdown has no outcome here (`HandedBack`)."""
        try:
            outcome: ExecutionOutcome | ClaraError = await self._executions.run(admission, request, detachment)
        except HandedBack:
            self.forget(detachment.log)
            raise
        except ClaraError as exc:
            if not sealing.started.done():
                raise
            outcome = exc
        except Exception:
            if not sealing.started.done():
                raise
            log.exception("detached_run_failed", execution_id=str(detachment.execution_id))
            outcome = ClaraError()
        reply = sealing.reply
        if reply is None:
            reply = self._render(outcome)
            events = detachment.log
            events.append(RUN_FINISHED if reply.status < 300 else RUN_FAILED, reply.body)
            events.close()
        ended()
        return reply
