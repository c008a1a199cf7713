"""A worker's side of the queue backend: run the job of a queued execution as the web replica would have.

The job first claims the run (its row names this worker's lease from then on, so if this worker dies
the lease sweep finds it) unless its deployment already runs its `maxConcurrency` runs on the workers
(the job is then deferred again, `AT_LIMIT_SECONDS` later: the limit holds across the cluster), then
runs it through the same `ExecutionService` as an in-process run: same execution slot, versions,
validation, deadlines, records, event log; a synchronous run without an event log, the others as
detached runs (`detached.py`). Its reply, rendered exactly as the web replica renders
an in-process run's, is stored for the replica relaying it, which is notified (`store/run_queue.py`); a
stream or wait run also says when it started (its events are stored by then). An async run's caller
was answered when it was queued: it is followed through its row and events, so it stores neither.

Before its first outbound call a run is marked (`outbound_at`, awaited like its `running` row): that is
what the default retry policy reads when its worker dies, or stops with the run still going at the end of
its shutdown grace, since running it again would repeat a side effect (`recovery.py`, `hand_back.py`). A
run handed back at shutdown stores no reply: its relay waits for the worker that runs it next.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from contextlib import suppress
from typing import TypeVar, cast

import structlog

from clara_runner.clock import utcnow
from clara_runner.errors import ClaraError, DatabaseUnavailable
from clara_runner.flow.outbound import OutboundHook
from clara_runner.service.execution.admission import Admission
from clara_runner.service.execution.detached import DetachedRuns
from clara_runner.service.execution.event_recorder import EventRecorder
from clara_runner.service.execution.idempotency import Render, Reply
from clara_runner.service.execution.queued import ASYNC, SYNC
from clara_runner.service.execution.runs import ExecutionService, HandedBack, ReceivedRequest
from clara_runner.service.keys.authenticate import Principal
from clara_runner.store import run_queue
from clara_runner.store.database import Database
from clara_runner.store.job_queue import JobQueue

log = structlog.get_logger(__name__)

_Started = TypeVar("_Started")

AT_LIMIT_SECONDS = 0.25
"""A run whose deployment is at its `maxConcurrency` across the workers is offered again this much later."""


class QueueWorker:
    def __init__(
        self,
        database: Database,
        executions: ExecutionService,
        detached: DetachedRuns,
        recorder: EventRecorder,
        render: Render,
        jobs: JobQueue,
        *,
        owner_id: uuid.UUID,
        queue: str,
    ) -> None:
        self._database = database
        self._jobs = jobs
        self._queue = queue
        self._recorder = recorder
        """The run's events so far are stored before its relay hears that it started (and follows them)."""
        self._executions = executions
        self._detached = detached
        self._render = render
        self._owner_id = owner_id

    async def run_job(self, execution_id: uuid.UUID) -> None:
        async with self._database.statement() as conn:
            queued: run_queue.QueuedRequest | run_queue.AtLimit | None
            queued = await run_queue.claim_at_once(conn, execution_id, self._owner_id)
        if queued is None:
            queued = await self._claim_counted(execution_id)
        if not isinstance(queued, run_queue.QueuedRequest):
            return
        principal = Principal(cast(uuid.UUID, queued.api_key_id), queued.deployment, "")
        admission = Admission(principal, None)
        request = ReceivedRequest(
            queued.body, queued.content_type, queued.version_header, callback_url=queued.callback_url
        )
        try:
            if queued.mode == SYNC:
                reply = await self._sync(admission, request, execution_id)
            else:
                reply = await self._detached_run(admission, request, execution_id, relayed=queued.mode != ASYNC)
        except HandedBack:
            return
        if queued.mode != ASYNC:
            async with self._database.write() as conn:
                await run_queue.store_reply(conn, execution_id, reply.status, reply.headers, reply.body)

    async def _claim_counted(self, execution_id: uuid.UUID) -> run_queue.QueuedRequest | run_queue.AtLimit | None:
        """The claim of a run `claim_at_once` did not take: one of a deployment with a `maxConcurrency`,
        counted under its lock and offered again a little later when at the limit (or one no longer waiting)."""
        async with self._database.write() as conn:
            queued = await run_queue.claim(conn, execution_id, self._owner_id)
            if isinstance(queued, run_queue.AtLimit):
                job_id = await self._jobs.defer(
                    conn, execution_id, queue=self._queue, priority=0, after=AT_LIMIT_SECONDS
                )
                await run_queue.set_job(conn, execution_id, job_id)
        return queued

    async def _sync(self, admission: Admission, request: ReceivedRequest, execution_id: uuid.UUID) -> Reply:
        outcome = await self._or_refusal(
            execution_id, self._executions.run(admission, request, execution_id=execution_id)
        )
        return outcome if isinstance(outcome, Reply) else self._render(outcome)

    async def _detached_run(
        self, admission: Admission, request: ReceivedRequest, execution_id: uuid.UUID, *, relayed: bool
    ) -> Reply:
        """Run it as a detached run; a `relayed` one (stream, wait: a replica waits on it) says when it started."""
        handle = await self._or_refusal(execution_id, self._detached.start(admission, request, execution_id))
        if isinstance(handle, Reply):
            return handle
        if relayed:
            with suppress(DatabaseUnavailable):
                await self._recorder.flush_soon()
            async with self._database.write() as conn:
                await run_queue.mark_started(conn, execution_id, handle.version)
        return await handle.task

    async def _or_refusal(self, execution_id: uuid.UUID, starting: Awaitable[_Started]) -> _Started | Reply:
        """What `starting` gives, or the reply to what refused or broke it; a run handed back to the queue is
        neither: it goes on elsewhere (`HandedBack` goes up)."""
        try:
            return await starting
        except HandedBack:
            raise
        except ClaraError as exc:
            return self._render(exc)
        except Exception:
            log.exception("queued_run_failed", execution_id=str(execution_id))
            return self._render(ClaraError())


def outbound_marker(database: Database) -> Callable[[str, OutboundHook], OutboundHook]:
    """Wraps a run's outbound hook: the hook, then (once per run) the mark saying the run has started an
    outbound call, stored before the call leaves."""

    def wrap(execution_id: str, before_outbound: OutboundHook) -> OutboundHook:
        marked = False
        run_id = uuid.UUID(execution_id)

        async def hook() -> None:
            nonlocal marked
            await before_outbound()
            if not marked:
                async with database.write() as conn:
                    await run_queue.mark_outbound(conn, run_id, utcnow())
                marked = True

        return hook

    return wrap
