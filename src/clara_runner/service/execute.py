"""Execute a deployed workflow for an API caller, and its history.

Path of one request: authenticate the key (cached) -> check the slug is the key's deployment ->
take one request from the key's rate limit -> receive the body -> wait for an execution slot ->
load the current version or the one `X-Workflow-Version` pins (cached: plan, contract, validators)
-> parse (JSON, form or multipart) and validate the body -> run under the `MAX_EXECUTION_TIME`
deadline -> check the outputs against the output schema (a mismatch is traced and counted, never
fatal) -> redact and size-check -> record -> respond.

Every request that passes authentication leaves exactly one execution row with a final status
(success, error or timeout), whatever fails after that point: the row is written once, in a
`finally`, shielded from cancellation. Nothing is written before the run, so no row can be left
`running`, and the hot path costs one database write.

Two refusals are deliberately not recorded: 429 `rate_limited` and 503 `at_capacity`. They shed load,
and writing a row for each would turn a flood of refused requests into a flood of database writes
(and fill the history with noise): the request never reached the workflow.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import structlog

from clara_runner.clock import utcnow
from clara_runner.errors import (
    ClaraError,
    ExecutionTimeout,
    InvalidParameter,
    MalformedJSON,
    WorkflowNotFound,
)
from clara_runner.flow.context import RunContext
from clara_runner.flow.errors import NodeFailed
from clara_runner.flow.events import EventSink, TraceRecorder
from clara_runner.flow.runner import run
from clara_runner.security.api_keys import PREFIX
from clara_runner.security.rate_limits import Quota, RateLimiter
from clara_runner.service.access import ManagementAccess
from clara_runner.service.auth import KeyAuthenticator, Principal, bearer_token
from clara_runner.service.capacity import ExecutionCapacity
from clara_runner.service.failures import node_failure
from clara_runner.service.multipart import is_multipart, parse_multipart
from clara_runner.service.pages import Page, PageRequest
from clara_runner.service.safeguards import RunGuard, Safeguards
from clara_runner.service.usage import UsageRecorder
from clara_runner.service.versions import VersionCache
from clara_runner.service.versions_admin import pinned_version
from clara_runner.store import deployments as deployment_queries
from clara_runner.store import executions as execution_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord, ExecutionRecord

log = structlog.get_logger(__name__)

ContextFactory = Callable[[str, EventSink], RunContext]
BodyReader = Callable[[], Awaitable[bytes]]

EXECUTION_STATUSES = ("queued", "running", "success", "error", "timeout", "cancelled", "interrupted")


def default_context(execution_id: str, events: EventSink) -> RunContext:
    return RunContext(events=events, execution_id=execution_id)


@dataclass(frozen=True, slots=True)
class ExecutionOutcome:
    execution_id: uuid.UUID
    deployment: DeploymentRecord
    version: int
    outputs: dict[str, Any]
    duration_ms: int
    nodes_executed: int
    finished_at: datetime
    headers: Mapping[str, str] = field(default_factory=dict)
    """Response headers the run earned (the caller's rate-limit quota)."""


@dataclass(slots=True)
class _Attempt:
    """One admitted request as its execution row will say: filled in as the run gets further."""

    principal: Principal
    guard: RunGuard
    execution_id: uuid.UUID = field(default_factory=uuid.uuid4)
    started_at: datetime = field(default_factory=utcnow)
    started: float = field(default_factory=time.perf_counter)
    trace: TraceRecorder = field(default_factory=TraceRecorder)
    version: int = 0
    status: str = "error"
    inputs: Any = None
    outputs: Any = None
    error_code: str | None = None
    error_message: str | None = None
    output_mismatch: bool = False

    def __post_init__(self) -> None:
        self.version = self.principal.deployment.current_version

    def failed(self, code: str, message: str, status: str) -> None:
        self.status, self.error_code, self.error_message = status, code, message

    def finish(self) -> ExecutionRecord:
        """The row to store, redacted by the run's guard."""
        return self.guard.finish(
            ExecutionRecord(
                id=self.execution_id,
                deployment_id=self.principal.deployment.id,
                version=self.version,
                api_key_id=self.principal.key_id,
                status=self.status,
                inputs=self.inputs,
                outputs=self.outputs,
                error_code=self.error_code,
                error_message=self.error_message,
                duration_ms=round((time.perf_counter() - self.started) * 1000),
                nodes_executed=sum(1 for entry in self.trace.entries if entry["status"] == "success"),
                trace=self.trace.entries,
                created_at=self.started_at,
                finished_at=utcnow(),
            )
        )

    def outcome(self, row: ExecutionRecord, headers: Mapping[str, str]) -> ExecutionOutcome:
        """What a successful run answers (the outputs as returned, before NUL removal for storage)."""
        assert row.duration_ms is not None
        assert row.finished_at is not None
        return ExecutionOutcome(
            execution_id=self.execution_id,
            deployment=self.principal.deployment,
            version=self.version,
            outputs=self.outputs,
            duration_ms=row.duration_ms,
            nodes_executed=row.nodes_executed,
            finished_at=row.finished_at,
            headers=headers,
        )


@dataclass(frozen=True, slots=True)
class Admission:
    """A caller let in: a valid key of the deployment, within its rate limit."""

    principal: Principal
    quota: Quota | None

    @property
    def headers(self) -> dict[str, str]:
        return self.quota.headers() if self.quota is not None else {}

    @contextmanager
    def stamped(self) -> Iterator[None]:
        """Put the quota headers on any error raised inside: every response after admission carries them."""
        try:
            yield
        except ClaraError as exc:
            exc.headers = {**self.headers, **exc.headers}
            raise


@dataclass(frozen=True, slots=True)
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

    @classmethod
    async def receive(
        cls, read_body: BodyReader, content_type: str | None, version_header: str | None
    ) -> ReceivedRequest:
        try:
            return cls(await read_body(), content_type, version_header)
        except Exception as exc:
            return cls(None, content_type, version_header, exc)

    async def read(self) -> bytes:
        if self.failure is not None:
            raise self.failure
        assert self.raw is not None
        return self.raw


def parse_payload(raw: bytes, content_type: str | None) -> Any:
    """The request body as a value: JSON, or a URL-encoded form (what `curl -d` sends by default)."""
    if not raw.strip():
        return {}
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded" and raw.lstrip()[:1] not in (b"{", b"["):
        try:
            return dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedJSON(f"Request body is neither JSON nor a valid form: {exc}") from exc
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise MalformedJSON("Request body is nested too deeply to parse") from exc
    except UnicodeDecodeError as exc:
        raise MalformedJSON("Request body is not valid UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


class ExecutionService:
    def __init__(
        self,
        database: Database,
        keys: KeyAuthenticator,
        access: ManagementAccess,
        versions: VersionCache,
        usage: UsageRecorder,
        max_seconds: float,
        context_factory: ContextFactory = default_context,
        *,
        rate_limits: RateLimiter,
        capacity: ExecutionCapacity,
        safeguards: Safeguards | None = None,
    ) -> None:
        self._database = database
        self._keys = keys
        self._access = access
        self._versions = versions
        self._usage = usage
        self._max_seconds = max_seconds
        self._context_factory = context_factory
        self._rate_limits = rate_limits
        self._capacity = capacity
        self._safeguards = safeguards or Safeguards()

    async def execute(
        self,
        slug: str,
        authorization: str | None,
        read_body: BodyReader,
        content_type: str | None,
        version_header: str | None = None,
    ) -> ExecutionOutcome:
        admission = await self.admit(slug, authorization)
        return await self.run(admission, await ReceivedRequest.receive(read_body, content_type, version_header))

    async def admit(self, slug: str, authorization: str | None) -> Admission:
        """Authenticate the key, check it belongs to `slug`, and take one request from its rate limit."""
        principal = await self._keys.authenticate(authorization)
        if principal.deployment.slug != slug:
            raise WorkflowNotFound(f"No workflow '{slug}' belongs to this API key")
        return Admission(principal, await self._rate_limits.hit(principal.deployment, principal.key_id))

    async def run(self, admission: Admission, request: ReceivedRequest) -> ExecutionOutcome:
        """Wait for an execution slot, run the admitted request, then record it.

        The slot bounds work in progress, so it is given back as soon as the run ends: the row is
        written after it, and waiting writes never hold slots other requests could be running in.
        """
        principal = admission.principal
        deployment = principal.deployment
        attempt: _Attempt | None = None
        with admission.stamped():
            try:
                async with self._capacity.slot(deployment.id, deployment.max_concurrency):
                    attempt = _Attempt(principal, self._safeguards.begin())
                    await self._attempt(attempt, request)
            finally:
                if attempt is not None:
                    row = attempt.finish()
                    await asyncio.shield(self._record(row, output_mismatch=attempt.output_mismatch))
        return attempt.outcome(row, admission.headers)

    async def _attempt(self, attempt: _Attempt, request: ReceivedRequest) -> None:
        deployment = attempt.principal.deployment
        guard = attempt.guard
        try:
            attempt.version = pinned_version(request.version_header, deployment.current_version)
            loaded = await self._versions.get(deployment.id, attempt.version)
            raw = await request.read()
            payload = (
                parse_multipart(raw, request.content_type, loaded.contract.inputs)
                if is_multipart(request.content_type)
                else parse_payload(raw, request.content_type)
            )
            values, inputs = loaded.binder.bind(payload)
            attempt.inputs = guard.inputs(loaded.plan, loaded.contract.inputs, inputs)
            context = self._context_factory(str(attempt.execution_id), attempt.trace)
            try:
                async with asyncio.timeout(self._max_seconds):
                    result = await run(loaded.plan, values, context)
            except TimeoutError as exc:
                raise ExecutionTimeout(
                    f"Workflow execution timeout after {round(self._max_seconds * 1000)}ms; the run was cancelled"
                ) from exc
            except NodeFailed as exc:
                raise node_failure(exc) from exc
            attempt.outputs = guard.outputs(loaded.outputs_by_field(result.outputs))
            mismatch = loaded.output_checker.check(attempt.outputs)
            if mismatch is not None:
                attempt.trace.entries.append(mismatch)
                attempt.output_mismatch = True
            attempt.status = "success"
        except ClaraError as exc:
            guard.error(exc)
            attempt.failed(exc.code, exc.message, "timeout" if isinstance(exc, ExecutionTimeout) else "error")
            exc.details["executionId"] = str(attempt.execution_id)
            raise
        except Exception as exc:
            attempt.failed("internal_error", f"{type(exc).__name__}: {exc}", "error")
            raise

    async def _record(self, row: ExecutionRecord, *, output_mismatch: bool) -> None:
        async with self._database.write() as conn:
            await execution_queries.insert_execution(conn, row)
            if output_mismatch:
                await deployment_queries.add_output_mismatch(conn, row.deployment_id)
        self._usage.record(row.deployment_id, row.api_key_id, row.finished_at or row.created_at)

    async def history(
        self,
        slug: str,
        authorization: str | None,
        client_host: str | None,
        page: PageRequest,
        status: str | None,
    ) -> tuple[DeploymentRecord, Page[ExecutionRecord]]:
        """Executions of `slug`, newest first, for its key holder or the admin."""
        if status is not None and status not in EXECUTION_STATUSES:
            raise InvalidParameter(f"status must be one of: {', '.join(EXECUTION_STATUSES)}")
        token = bearer_token(authorization)
        holds_key = token is not None and token.startswith(PREFIX)
        if not holds_key and self._access.admin.allows(token, client_host):
            deployment = await self._live(slug)
        else:
            deployment = (await self._keys.authenticate(authorization)).deployment
            if deployment.slug != slug:
                raise WorkflowNotFound(f"No workflow '{slug}' belongs to this API key")
        async with self._database.read() as conn:
            rows = await execution_queries.list_for_deployment(
                conn, deployment.id, limit=page.limit + 1, offset=page.offset, status=status
            )
        return deployment, Page.from_overfetch(rows, page)

    async def _live(self, slug: str) -> DeploymentRecord:
        async with self._database.read() as conn:
            found = await deployment_queries.find_live(conn, slug=slug)
        if found is None:
            raise WorkflowNotFound()
        return found
