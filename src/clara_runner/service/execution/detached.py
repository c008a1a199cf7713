"""Runs the caller does not wait for: started for the stream, async and wait modes of execute.

A detached run is an ordinary run (`runs.py`: same admission, slot, validation, deadline, row) in a task
of its own, so it goes on when the request that started it is answered or its connection drops. It is
acknowledged only once it holds an execution slot and its `running` row and `run.started` event are
stored: a refusal (429, 503 `at_capacity`, a pinned version that does not exist) still reaches the
caller as an error, and a run the caller was told about always has a row, which a live process marks
`interrupted` if this one dies (`recovery.py`).

Its outcome is rendered exactly as a synchronous response would be (`Render`): that body is the data of
its last event (`run.finished`, or `run.failed` with the error envelope), and what the wait mode
answers when the run ends in time.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable, Callable

import structlog

from clara_runner.errors import ClaraError, DatabaseUnavailable
from clara_runner.service.execution.admission import Admission
from clara_runner.service.execution.event_log import RUN_FAILED, RUN_FINISHED, RUN_STARTED, RunEventLog
from clara_runner.service.execution.event_recorder import EventRecorder
from clara_runner.service.execution.idempotency import Render, Reply
from clara_runner.service.execution.record import RunRecord
from clara_runner.service.execution.runs import Detachment, ExecutionService, ReceivedRequest

log = structlog.get_logger(__name__)

BeforeStart = Callable[[uuid.UUID], Awaitable[None]]
"""Awaited once the run's row is stored and before it is acknowledged (e.g. to register its callback)."""


class RunHandle:
    """A detached run of this process: its id, its live event log, and the task that ends with its reply."""

    __slots__ = ("execution_id", "log", "task", "version")

    def __init__(self, execution_id: uuid.UUID, log: RunEventLog, task: asyncio.Task[Reply], version: int) -> None:
        self.execution_id = execution_id
        self.log = log
        self.task = task
        self.version = version


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
        self, admission: Admission, request: ReceivedRequest, before_start: BeforeStart | None = None
    ) -> RunHandle:
        """Start the run; return once it is acknowledged, or raise what refused it."""
        execution_id = uuid.uuid4()
        events = RunEventLog(execution_id)
        acknowledged: asyncio.Future[int] = asyncio.get_running_loop().create_future()

        async def on_started(run: RunRecord) -> None:
            await run.store_running()
            if before_start is not None:
                await before_start(execution_id)
            events.append(RUN_STARTED, {"executionId": str(execution_id), "version": run.version})
            self._recorder.track(events)
            await self._recorder.flush(events)
            acknowledged.set_result(run.version)

        detachment = Detachment(execution_id, events, on_started)
        task = asyncio.create_task(self._complete(admission, request, detachment, acknowledged), name="detached-run")
        await asyncio.wait((acknowledged, task), return_when=asyncio.FIRST_COMPLETED)
        if not acknowledged.done():
            task.result()
            raise AssertionError("a detached run ended without being acknowledged or refused")
        handle = RunHandle(execution_id, events, task, acknowledged.result())
        if not task.done():
            self._handles[execution_id] = handle
            task.add_done_callback(lambda _: self._handles.pop(execution_id, None))
        return handle

    async def _complete(
        self,
        admission: Admission,
        request: ReceivedRequest,
        detachment: Detachment,
        acknowledged: asyncio.Future[int],
    ) -> Reply:
        try:
            reply = self._render(await self._executions.run(admission, request, detachment))
        except ClaraError as exc:
            if not acknowledged.done():
                raise
            reply = self._render(exc)
        except Exception:
            if not acknowledged.done():
                raise
            log.exception("detached_run_failed", execution_id=str(detachment.execution_id))
            reply = self._render(ClaraError())
        events = detachment.log
        events.append(RUN_FINISHED if reply.status < 300 else RUN_FAILED, reply.body)
        events.close()
        try:
            await asyncio.shield(self._recorder.flush(events))
        except DatabaseUnavailable:
            log.warning("run_events_postponed", execution_id=str(detachment.execution_id))
        return reply
