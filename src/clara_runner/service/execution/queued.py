"""The web replica's side of the queue backend: queue an admitted request as a job, then relay its outcome.

Admission is unchanged (key, rate limit, the replica open), and the body is read in full before anything
is queued. The request is then checked as an in-process run checks it before its first node
(`ExecutionService.check`: the pinned version exists, the body parses, the inputs are valid), so a caller
of any mode gets the same refusal an in-process caller gets (the error envelope, never a 202), recorded the
same way (a final `error` row, no job). A request that passes is queued: one transaction inserts the run's
`queued` row, its request and its job (refused with 503 `queue_full` when the deployment already has
`max_depth` runs waiting: the count is read without a lock, so requests of one deployment queued at the
same instant can pass it by as many as are in flight). The job's priority ranks it by the runs its key,
then its deployment, has waiting, so workers serve keys and deployments fairly (`store/job_queue.py`). A
worker runs it exactly as this process would (`queue_worker.py`), checking it again (its version may have
changed meanwhile), and stores the reply the caller gets; this replica waits for it, woken by the worker's notification
(`relay.py`), and answers with it, adding the caller's rate-limit headers, which only this replica knows:

* sync: the reply once the run ended, byte for byte what an in-process run answers;
* stream and wait: once the run started, the stream follows its stored events, and the wait mode waits
  for the reply up to its time (a refusal by the worker is answered as an error, as in-process);
* async: 202 as soon as the job is queued (`"status": "queued"`).

A sync caller that hangs up before the reply cancels the run, as in-process (`record.py`): a run still
waiting for a worker is recorded `cancelled` at once, a run a worker holds is marked for it
(`cancellation.py`); either way it ends `cancelled` (`client_closed_request`). Callers of the other modes
were answered, or follow a run that goes on without them, as in-process.

A run that ends without a reply was cancelled while it waited for a worker (409 `run_cancelled`, as
in-process) or interrupted by the lease sweep (its worker died and its retry policy did not allow another
attempt): the caller gets 503 `process_lost`, as the row says.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import timedelta

from clara_runner.clock import utcnow
from clara_runner.errors import ClaraError, ClientClosedRequest
from clara_runner.service.execution.admission import Admission
from clara_runner.service.execution.cancellation import cancel_elsewhere
from clara_runner.service.execution.idempotency import Render, Reply
from clara_runner.service.execution.record import CALLER_GONE, Disconnection
from clara_runner.service.execution.relay import RunRelay
from clara_runner.service.execution.runs import Check, ReceivedRequest, RunCancelled, cancelled_as
from clara_runner.store import run_queue
from clara_runner.store.database import Database
from clara_runner.store.job_queue import JobQueue, fair_priority
from clara_runner.store.tables import UNFINISHED

SYNC = "sync"
ASYNC = "async"
REPLIES_KEPT_SECONDS = 3600
"""How long a finished run's request and reply are kept (its relay is over long before)."""
_REPLY_AFTER_ROW_SECONDS = 3.0
"""A worker stores its reply just after the run's final row: a final row without a reply for this long
means the run was ended by a sweep, not by its worker."""


class QueueFull(ClaraError):
    """Too many runs of this deployment are waiting for a worker; retry after `Retry-After` seconds."""

    code = "queue_full"
    status = 503
    error = "Queue full"


class RunLost(ClaraError):
    """The worker running this execution stopped before it finished, and it was not run again."""

    code = "process_lost"
    status = 503
    error = "Run interrupted"


@dataclass(frozen=True, slots=True)
class Queued:
    """A run in the queue (or started by a worker) whose caller does not wait for its end."""

    execution_id: uuid.UUID
    version: int
    status: str
    """`queued` (async: not taken by a worker yet) or `running`."""


class QueuedRuns:
    def __init__(
        self,
        database: Database,
        jobs: JobQueue,
        relay: RunRelay,
        render: Render,
        check: Check,
        *,
        queue: str,
        max_depth: int,
        retry_after_seconds: int = 1,
    ) -> None:
        self._database = database
        self._jobs = jobs
        self._relay = relay
        self._render = render
        self._check = check
        """Refuses a request as an in-process run would before its first node (`ExecutionService.check`)."""
        self._queue = queue
        self._max_depth = max_depth
        self._retry_after = retry_after_seconds

    async def run(self, admission: Admission, request: ReceivedRequest) -> Reply:
        """A synchronous run: queued, then answered with its reply once it ended; cancelled if its caller
        hangs up first (`request.until_disconnected`)."""
        execution_id, _ = await self._enqueue(admission, request, SYNC)
        if request.until_disconnected is None:
            reply = await self._reply(admission, execution_id, None)
        else:
            reply = await self._reply_while_connected(admission, execution_id, request.until_disconnected)
        assert reply is not None
        return reply

    async def _reply_while_connected(
        self, admission: Admission, execution_id: uuid.UUID, until_disconnected: Disconnection
    ) -> Reply | None:
        """The run's reply, unless its caller hangs up first: the run is then cancelled, as in-process (the
        caller will never read its reply, so it would spend model calls on nobody)."""
        relayed = asyncio.ensure_future(self._reply(admission, execution_id, None))
        gone = asyncio.ensure_future(until_disconnected())
        try:
            done, _ = await asyncio.wait((relayed, gone), return_when=asyncio.FIRST_COMPLETED)
        finally:
            relayed.cancel()
            gone.cancel()
        if relayed in done:
            return relayed.result()
        gone.result()
        await cancel_elsewhere(self._database, execution_id, CALLER_GONE, queued=True)
        _, message = cancelled_as(CALLER_GONE)
        raise ClientClosedRequest(message, details={"executionId": str(execution_id)})

    async def start(self, admission: Admission, request: ReceivedRequest, mode: str) -> Queued | Reply:
        """A run the caller does not wait for: `Queued` once it is queued (async) or started (stream,
        wait), or the error reply that refused it before it started."""
        execution_id, version = await self._enqueue(admission, request, mode)
        if mode == ASYNC:
            return Queued(execution_id, version, "queued")
        with self._relay.watch(execution_id) as changed:
            while True:
                state = await self._state(execution_id)
                if state.started_version is not None:
                    return Queued(execution_id, state.started_version, "running")
                if state.reply_status is not None or self._ended_unreplied(state, execution_id) is not None:
                    break
                await self._relay.next_change(changed)
        reply = await self._reply(admission, execution_id, None)
        assert reply is not None
        return reply

    async def wait(self, admission: Admission, execution_id: uuid.UUID, seconds: float) -> Reply | None:
        """The run's reply if it ends within `seconds`, else None."""
        return await self._reply(admission, execution_id, seconds)

    async def prune(self) -> int:
        """Forget the requests and replies of runs that finished more than `REPLIES_KEPT_SECONDS` ago."""
        async with self._database.write() as conn:
            return await run_queue.prune_replies(conn, utcnow() - timedelta(seconds=REPLIES_KEPT_SECONDS))

    async def _enqueue(self, admission: Admission, request: ReceivedRequest, mode: str) -> tuple[uuid.UUID, int]:
        deployment = admission.principal.deployment
        execution_id = uuid.uuid4()
        version = await self._check(admission, request, execution_id)
        body = await request.read()
        now = utcnow()
        queued = run_queue.QueuedRequest(
            execution_id=execution_id,
            deployment=deployment,
            api_key_id=admission.principal.key_id,
            mode=mode,
            body=body,
            content_type=request.content_type,
            version_header=request.version_header,
            callback_url=request.callback_url,
        )
        async with self._database.write() as conn:
            waiting = await run_queue.waiting(conn, deployment.id, admission.principal.key_id)
            if waiting.deployment >= self._max_depth:
                raise QueueFull(
                    f"{waiting.deployment} runs of this workflow are already waiting for a worker"
                    f" (at most {self._max_depth});"
                    f" retry after {self._retry_after} seconds",
                    details={"retryAfter": self._retry_after},
                    headers={"Retry-After": str(self._retry_after)},
                )
            priority = fair_priority(waiting.flow, waiting.deployment)
            job_id = await self._jobs.defer(conn, execution_id, queue=self._queue, priority=priority)
            await run_queue.enqueue(conn, queued, version=version, job_id=job_id, now=now)
        return execution_id, version

    @staticmethod
    def _ended_unreplied(state: run_queue.RunState, execution_id: uuid.UUID) -> ClaraError | None:
        """How a run that ended without a worker's reply ended: cancelled while it waited for a worker, or
        interrupted by a sweep (its worker died); None while a reply may still come."""
        if state.status in UNFINISHED or state.reply_status is not None or state.finished_at is None:
            return None
        details = {"executionId": str(execution_id)}
        if state.status == "cancelled":
            return RunCancelled(state.error_message, details=details)
        if (utcnow() - state.finished_at).total_seconds() < _REPLY_AFTER_ROW_SECONDS:
            return None
        return RunLost(state.error_message, details=details)

    async def _state(self, execution_id: uuid.UUID) -> run_queue.RunState:
        async with self._database.read() as conn:
            state = await run_queue.state(conn, execution_id)
        if state is None:
            raise RunLost("The run's record was deleted before it finished", details={"executionId": str(execution_id)})
        return state

    async def _reply(self, admission: Admission, execution_id: uuid.UUID, seconds: float | None) -> Reply | None:
        deadline = None if seconds is None else time.monotonic() + seconds
        with self._relay.watch(execution_id) as changed:
            while True:
                state = await self._state(execution_id)
                if state.reply_status is not None:
                    assert state.reply_body is not None
                    headers = {**admission.headers, **(state.reply_headers or {})}
                    return Reply(state.reply_status, state.reply_body, headers)
                ended = self._ended_unreplied(state, execution_id)
                if ended is not None:
                    reply = self._render(ended)
                    return Reply(reply.status, reply.body, {**admission.headers, **reply.headers})
                now = time.monotonic()
                if deadline is not None and now >= deadline:
                    return None
                wait = self._relay.fallback_seconds
                await self._relay.next_change(changed, wait if deadline is None else min(deadline - now, wait))
