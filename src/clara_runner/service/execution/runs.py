"""Execute a deployed workflow for an API caller.

Path of one request: admit it (`admission.py`: key, process open, rate limit) -> receive the body ->
wait for an execution slot -> load the current version or the one `X-Workflow-Version` pins (cached:
plan, contract, validators) -> parse (JSON, form or multipart) and validate the body -> run under the
`MAX_EXECUTION_TIME` deadline -> check the outputs against the output schema (a mismatch is traced and
counted, never fatal) -> redact, encode once and size-check -> record -> respond.

Every admitted request that gets an execution slot leaves exactly one execution row with a final
status (success, error, timeout, interrupted), whatever fails after that point (`record.py` says when
its snapshots are written). Refusals before that leave no row: 429 `rate_limited`, 503 `at_capacity`,
and 503 `shutting_down` for a request still waiting for a slot. They shed load, and writing a row for
each would turn a flood of refused requests into a flood of writes: the request never reached the
workflow.

At shutdown, runs still going when the grace period ends are cancelled by the server (`InFlight`):
they are recorded `interrupted` (`server_shutdown`) and their callers get 503 `shutting_down`, unless a
queue backend worker hands them back to the queue (`hand_back`): they then end in `HandedBack`, with no row
written here. A run
whose caller hung up is cancelled and recorded `cancelled` (`client_closed_request`).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

import structlog

from clara_runner.contract.multipart import is_multipart, parse_multipart
from clara_runner.contract.payload import parse_payload
from clara_runner.errors import ClaraError, ClientClosedRequest, ExecutionTimeout
from clara_runner.flow.context import RunContext
from clara_runner.flow.errors import NodeFailed
from clara_runner.flow.events import EventSink, fan_out
from clara_runner.flow.outbound import OutboundHook
from clara_runner.flow.runner import run as run_flow
from clara_runner.service.deployments.loaded import LoadedVersion, VersionCache
from clara_runner.service.deployments.versions import pinned_version
from clara_runner.service.execution.admission import Admission, Admitter, ShuttingDown
from clara_runner.service.execution.capacity import ExecutionCapacity
from clara_runner.service.execution.event_log import RunEventLog
from clara_runner.service.execution.failures import node_failure
from clara_runner.service.execution.record import CALLER_GONE, Disconnection, RunRecord
from clara_runner.service.execution.safeguards import RunGuard, Safeguards, stored_outputs
from clara_runner.store.records import DeploymentRecord, ExecutionWrite
from clara_runner.store.writer import ExecutionWriter
from clara_runner.telemetry import metrics, spending, tracing
from clara_runner.telemetry import runs as runs_told

ContextFactory = Callable[[str, EventSink, OutboundHook, bool], RunContext]
"""Builds a run's context from its execution id, event sink, outbound hook, and whether LLM nodes stream
their tokens (for a run someone may be following)."""
BodyReader = Callable[[], Awaitable[bytes]]

SERVER_SHUTDOWN = "server_shutdown"
CANCEL_REQUESTED = "cancel_requested"
_INTERRUPTED = "The server shut down before the run finished; it was cancelled"
_ABANDONED = "The caller closed the connection before the run finished; it was cancelled"
CANCELLED_MESSAGE = "The run was cancelled by a request to its cancel URL"


class HandedBack(Exception):
    """The run was stopped at shutdown and went back to the queue backend's queue, unrecorded by this process:
    another worker runs it, and answers its caller."""


HandBack = Callable[[RunRecord, RunEventLog | None], Awaitable[bool]]
"""Offered each run still going when the shutdown grace ends (with its event log, if it keeps one): True once
it went back to the queue (its row is no longer this process's), False to record it `interrupted` here."""


async def _keep(_run: RunRecord, _log: RunEventLog | None) -> bool:
    """A server process's runs cannot go anywhere else: they are all recorded `interrupted`."""
    return False


class RunCancelled(ClaraError):
    """The run was cancelled (`POST /api/executions/{id}/cancel`) before it finished."""

    code = "run_cancelled"
    status = 409
    error = "Run cancelled"


def cancelled_as(reason: str) -> tuple[str, str]:
    """The error code and message of a run cancelled because its caller hung up (`CALLER_GONE`) or a cancel
    asked it to stop (`CANCEL_REQUESTED`), the same whether its process stops it or it is recorded at once
    while it still waits for a queue worker."""
    if reason == CALLER_GONE:
        return CALLER_GONE, _ABANDONED
    return RunCancelled.code, CANCELLED_MESSAGE


@dataclass(slots=True)
class Detachment:
    """What differs for a run its caller does not wait for (stream, async, wait mode): it keeps an event
    log, LLM nodes stream their tokens into it, it has the longer detached deadline, its `running` row is
    written after `DETACHED_RECORD_AFTER_MS` (or its first outbound call), and `on_started` is called
    once it holds its execution slot and its inputs are valid, just before its first node (a refusal or
    invalid input still reaches the caller as an error)."""

    execution_id: uuid.UUID
    log: RunEventLog
    on_started: Callable[[RunRecord], None]
    seal: Seal | None = None
    """Given the run's outcome just before its final row is written, when that row is its first (the run
    ended before it was acknowledged), ends its log and returns it to be stored in the row."""


@dataclass(slots=True)
class ExecutionOutcome:
    execution_id: uuid.UUID
    deployment: DeploymentRecord
    version: int
    outputs_json: bytes
    """The outputs as the response carries them, encoded once."""
    duration_ms: int
    nodes_executed: int
    finished_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    """Response headers the run earned (the caller's rate-limit quota)."""


Seal = Callable[[ExecutionOutcome | BaseException], str | None]


@dataclass(slots=True)
class ReceivedRequest:
    """An admitted request: its body, read in full before an execution slot is taken so a slow upload
    holds no slot, with what says how to read it (content type) and which version to run.

    A failure to read the body (too large, client gone) is kept and raised when the run reads it, so it
    is recorded like any other failure of an admitted request.
    """

    raw: bytes | None
    content_type: str | None
    version_header: str | None
    failure: Exception | None = None
    until_disconnected: Disconnection | None = None
    """Returns once the caller hangs up (`record.py` cancels a run nobody waits for any more)."""
    callback_url: str | None = None
    """Where the caller asked to be told of the run's end (`?callbackUrl=`), if anywhere."""

    @classmethod
    async def receive(
        cls,
        read_body: BodyReader,
        content_type: str | None,
        version_header: str | None,
        until_disconnected: Disconnection | None = None,
    ) -> ReceivedRequest:
        try:
            return cls(await read_body(), content_type, version_header, None, until_disconnected)
        except Exception as exc:
            return cls(None, content_type, version_header, exc, until_disconnected)

    async def read(self) -> bytes:
        if self.failure is not None:
            raise self.failure
        assert self.raw is not None
        return self.raw


Check = Callable[[Admission, ReceivedRequest, uuid.UUID], Awaitable[int]]
"""`ExecutionService.check`: the version an admitted request would run, or what refuses it (recorded under
the given execution id)."""


OFF_LOOP_BYTES = 256 * 1024
"""Bodies and outputs larger than this are parsed, validated, redacted and encoded on a worker thread: a
legal 10 MB body of millions of values takes seconds of CPU, and the event loop keeps serving every other
tenant meanwhile."""


def _bind(loaded: LoadedVersion, raw: bytes, content_type: str | None, guard: RunGuard) -> tuple[dict[str, Any], bytes]:
    """The values of the input nodes and the inputs as recorded (encoded), from the raw body."""
    payload = (
        parse_multipart(raw, content_type, loaded.contract.inputs)
        if is_multipart(content_type)
        else parse_payload(raw, content_type)
    )
    values, inputs = loaded.binder.bind(payload)
    return values, guard.inputs(loaded.plan, loaded.contract.inputs, inputs)


def _outcome(run: RunRecord, row: ExecutionWrite, headers: Mapping[str, str]) -> ExecutionOutcome:
    assert run.outputs_json is not None
    assert row.duration_ms is not None
    assert row.finished_at is not None
    return ExecutionOutcome(
        execution_id=run.execution_id,
        deployment=run.principal.deployment,
        version=run.version,
        outputs_json=run.outputs_json,
        duration_ms=row.duration_ms,
        nodes_executed=row.nodes_executed,
        finished_at=row.finished_at,
        headers=headers,
    )


def _sealed(
    detachment: Detachment | None, result: BaseException | Callable[[ExecutionWrite], ExecutionOutcome]
) -> Callable[[ExecutionWrite], str | None] | None:
    """How the final row of a detached run gets its log: from what the run raised, or its outcome (known
    once the row is)."""
    if detachment is None or detachment.seal is None:
        return None
    seal = detachment.seal
    return lambda row: seal(result if isinstance(result, BaseException) else result(row))


class InFlight:
    """The runs this process has going, so that shutdown can wait for them and interrupt the rest."""

    def __init__(self) -> None:
        self._runs: dict[uuid.UUID, RunRecord] = {}
        self._idle = asyncio.Event()
        self._idle.set()

    def __len__(self) -> int:
        return len(self._runs)

    def __iter__(self) -> Iterator[RunRecord]:
        return iter(list(self._runs.values()))

    def get(self, execution_id: uuid.UUID) -> RunRecord | None:
        return self._runs.get(execution_id)

    def add(self, run: RunRecord) -> None:
        self._runs[run.execution_id] = run
        self._idle.clear()

    def discard(self, run: RunRecord) -> None:
        self._runs.pop(run.execution_id, None)
        if not self._runs:
            self._idle.set()

    async def wait_idle(self, seconds: float) -> bool:
        """Wait up to `seconds` for every run to end; True if they did."""
        try:
            async with asyncio.timeout(seconds):
                await self._idle.wait()
        except TimeoutError:
            return False
        return True

    def interrupt_all(self, reason: str) -> None:
        for run in list(self._runs.values()):
            run.interrupt(reason)


class RunNotifier(Protocol):
    """Who hears of runs ending (the webhook outbox): told of every final row once it is stored."""

    async def register_callback(self, execution_id: uuid.UUID, deployment: DeploymentRecord, url: str) -> None: ...

    async def run_finished(self, row: ExecutionWrite, deployment: DeploymentRecord) -> None: ...


class ExecutionService:
    def __init__(
        self,
        admitter: Admitter,
        versions: VersionCache,
        writer: ExecutionWriter,
        capacity: ExecutionCapacity,
        *,
        owner_id: uuid.UUID,
        max_seconds: float,
        max_detached_seconds: float,
        record_after_seconds: float,
        detached_record_after_seconds: float,
        context_factory: ContextFactory,
        safeguards: Safeguards,
        notifier: RunNotifier,
    ) -> None:
        self._admitter = admitter
        self._versions = versions
        self._writer = writer
        self._capacity = capacity
        self._owner_id = owner_id
        self._max_seconds = max_seconds
        self._max_detached_seconds = max_detached_seconds
        self._record_after = record_after_seconds
        self._detached_record_after = min(record_after_seconds, detached_record_after_seconds)
        """A detached run is acknowledged (202) once a row of it is stored: its final row if it ends this
        quickly (one write, as for a synchronous run, its event log sealed in it), else its `running` row,
        written this soon after it started."""
        self._context_factory = context_factory
        self._safeguards = safeguards
        self._notifier = notifier
        self.in_flight = InFlight()
        self.hand_back: HandBack = _keep
        """Set on a queue backend worker (`hand_back.py`)."""

    async def execute(
        self,
        slug: str,
        authorization: str | None,
        read_body: BodyReader,
        content_type: str | None,
        version_header: str | None = None,
        until_disconnected: Disconnection | None = None,
    ) -> ExecutionOutcome:
        admission = await self.admit(slug, authorization)
        request = await ReceivedRequest.receive(read_body, content_type, version_header, until_disconnected)
        return await self.run(admission, request)

    async def admit(self, slug: str, authorization: str | None) -> Admission:
        return await self._admitter.admit(slug, authorization)

    async def run(
        self,
        admission: Admission,
        request: ReceivedRequest,
        detachment: Detachment | None = None,
        execution_id: uuid.UUID | None = None,
    ) -> ExecutionOutcome:
        """Wait for an execution slot, run the admitted request, then record it (under `execution_id` when
        its row exists already: a run of the queue backend).

        The slot bounds work in progress, so it is given back as soon as the run ends: the row is
        written after it, and waiting writes never hold slots other requests could be running in.
        """
        run = RunRecord(
            admission.principal,
            self._owner_id,
            self._writer,
            self._record_after if detachment is None else self._detached_record_after,
            request.until_disconnected,
            execution_id if detachment is None else detachment.execution_id,
        )
        self.in_flight.add(run)
        structlog.contextvars.bind_contextvars(execution_id=str(run.execution_id))
        try:
            with admission.stamped(), tracing.run_span(admission.principal.deployment.slug, run.version):
                row = await self._run(run, request, detachment, admission.headers)
        finally:
            self.in_flight.discard(run)
        return _outcome(run, row, admission.headers)

    async def _run(
        self, run: RunRecord, request: ReceivedRequest, detachment: Detachment | None, headers: Mapping[str, str]
    ) -> ExecutionWrite:
        deployment = run.principal.deployment
        try:
            async with self._capacity.slot(deployment.id, deployment.max_concurrency):
                run.start()
                with metrics.slot_taken(time.perf_counter() - run.began):
                    await self._attempt(run, request, detachment)
        except asyncio.CancelledError:
            reason = run.interrupted_by
            handed_back = reason == SERVER_SHUTDOWN and await self.hand_back(
                run, None if detachment is None else detachment.log
            )
            details = {"executionId": str(run.execution_id)} if run.started else {}
            if run.started and not handed_back:
                if reason in (CALLER_GONE, CANCEL_REQUESTED):
                    run.fail(*cancelled_as(reason), "cancelled")
                else:
                    run.fail(reason or SERVER_SHUTDOWN, _INTERRUPTED, "interrupted")
                await self._finish(run)
            task = asyncio.current_task()
            if reason is None or task is None or task.uncancel() > 0:
                raise
            if handed_back:
                raise HandedBack(str(run.execution_id)) from None
            if reason == CALLER_GONE:
                raise ClientClosedRequest(_ABANDONED, details=details) from None
            if reason == CANCEL_REQUESTED:
                raise RunCancelled(CANCELLED_MESSAGE, details=details) from None
            raise ShuttingDown(_INTERRUPTED, details=details) from None
        except BaseException as exc:
            if run.started:
                await self._finish(run, _sealed(detachment, exc))
            raise
        return await self._finish(run, _sealed(detachment, lambda row: _outcome(run, row, headers)))

    async def _finish(
        self, run: RunRecord, seal: Callable[[ExecutionWrite], str | None] | None = None
    ) -> ExecutionWrite:
        row = await run.finish(seal)
        runs_told.run_finished(run.principal.deployment.slug, row, run.trace.entries)
        await self._notifier.run_finished(row, run.principal.deployment)
        return row

    async def check(self, admission: Admission, request: ReceivedRequest, execution_id: uuid.UUID) -> int:
        """The version the request would run, or raise what would refuse it before its first node (a pinned
        version that does not exist, a body that cannot be read or parsed, invalid inputs), recorded as its
        run would record it: a final `error` row under `execution_id`, whose id the error carries. Nothing
        is recorded for a request that passes. The queue backend checks a request so before queueing it: a
        caller of any mode learns of a refusal as an in-process run's caller does, and a refused request
        costs no job."""
        principal = admission.principal
        run = RunRecord(principal, self._owner_id, self._writer, self._record_after, execution_id=execution_id)
        try:
            with self._attempting(run) as (guard, _):
                await self._bound(run, request, guard)
        except Exception:
            await self._finish(run)
            raise
        return run.version

    async def _attempt(self, run: RunRecord, request: ReceivedRequest, detachment: Detachment | None) -> None:
        with self._attempting(run) as (guard, spent):
            loaded, values = await self._bound(run, request, guard)
            if request.callback_url is not None:
                await self._notifier.register_callback(run.execution_id, run.principal.deployment, request.callback_url)
            events: EventSink = run.trace
            seconds = self._max_seconds
            if detachment is not None:
                detachment.on_started(run)
                events, seconds = fan_out(run.trace, detachment.log.sink(guard.stored_text)), self._max_detached_seconds
            context = self._context_factory(str(run.execution_id), events, run.store_running, detachment is not None)
            try:
                with spending.charged_to(spent):
                    async with asyncio.timeout(seconds):
                        result = await run_flow(loaded.plan, values, context)
            except TimeoutError as exc:
                raise ExecutionTimeout(
                    f"Workflow execution timeout after {round(seconds * 1000)}ms; the run was cancelled"
                ) from exc
            except NodeFailed as exc:
                raise node_failure(exc, str(run.execution_id)) from exc
            outputs = loaded.outputs_by_field(result.outputs)
            mismatch = loaded.output_checker.check(outputs)
            if result.outputs_size > OFF_LOOP_BYTES:
                run.outputs_json = await asyncio.to_thread(guard.outputs, outputs)
            else:
                run.outputs_json = guard.outputs(outputs)
            stored = stored_outputs(run.outputs_json)
            run.stored_outputs_json = None if stored is run.outputs_json else stored
            if mismatch is not None:
                run.trace.entries.append(mismatch)
                run.output_mismatch = True
            run.status = "success"

    async def _bound(
        self, run: RunRecord, request: ReceivedRequest, guard: RunGuard
    ) -> tuple[LoadedVersion, dict[str, Any]]:
        """The run's version, loaded, and the values of its input nodes, its recorded inputs set on it: the
        step that refuses a request before its first node."""
        run.version = pinned_version(request.version_header, run.version)
        loaded = await self._versions.get(run.principal.deployment.id, run.version)
        raw = await request.read()
        if len(raw) > OFF_LOOP_BYTES:
            values, run.inputs_json = await asyncio.to_thread(_bind, loaded, raw, request.content_type, guard)
            guard.activate()
        else:
            values, run.inputs_json = _bind(loaded, raw, request.content_type, guard)
        return loaded, values

    @contextmanager
    def _attempting(self, run: RunRecord) -> Iterator[tuple[RunGuard, spending.Spending]]:
        """One attempt at the run, under its safeguards and its spending: what it raises is recorded on it
        (code, message, and what its trace and error message may show)."""
        guard = self._safeguards.begin()
        spent = spending.Spending()
        try:
            yield guard, spent
        except ClaraError as exc:
            guard.error(exc)
            run.fail(exc.code, exc.message, "timeout" if isinstance(exc, ExecutionTimeout) else "error")
            exc.details["executionId"] = str(run.execution_id)
            raise
        except Exception:
            run.fail("internal_error", "An unexpected error occurred; the server's log has the details")
            raise
        finally:
            run.nodes_executed = sum(1 for entry in run.trace.entries if entry["status"] == "success")
            run.cost_micros = spent.micros
            run.trace_json = guard.stored_trace(run.trace.entries)
            if run.error_message is not None:
                run.error_message = guard.stored_text(run.error_message)
            guard.close()
