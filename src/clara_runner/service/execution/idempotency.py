"""Idempotent execution: an `Idempotency-Key` makes a retried execute request safe.

The first request with a key claims it (a row in `idempotency_keys`, claimed atomically, so the rule
holds across processes and replicas) and runs; its response is stored. Within `IDEMPOTENCY_TTL_SECONDS`
(24 hours by default) a request with the same key, API key and deployment:

* with the same body (SHA-256 of the content type and the raw body) gets the stored response again,
  with `Idempotent-Replayed: true`, and nothing runs;
* with another body gets 409 `idempotency_key_reused`;
* while the first is still running (or waiting for a slot) gets 409 `idempotency_key_in_progress`.

Which responses are stored: every response of a request that ran to a result, success or client error
(400 input problems, 422 `workflow_failed`): running it again would repeat its side effects, which is
what the key is there to prevent. Responses that say "try again" are not stored and the key is
released, so a retry with the same key runs: 5xx (a timeout, `at_capacity`, an internal error), a run
cancelled because its caller hung up, and refusals before the claim (401, 404, 429, a body that could
not be read). A replay is a request like
any other for the rate limit: it passes the limit first and carries fresh `RateLimit-*` headers.
"""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import timedelta

import structlog

from clara_runner.clock import utcnow
from clara_runner.errors import ClaraError, ClientClosedRequest, DatabaseUnavailable, InvalidRequest
from clara_runner.service.execution.admission import Admission
from clara_runner.service.execution.record import Disconnection
from clara_runner.service.execution.runs import (
    BodyReader,
    ExecutionOutcome,
    ExecutionService,
    ReceivedRequest,
)
from clara_runner.store import idempotency as queries
from clara_runner.store.database import Database
from clara_runner.store.pruning import delete_in_batches
from clara_runner.store.tables import idempotency_keys

log = structlog.get_logger(__name__)

_SETTLE_RETRY_SECONDS = 1.0
_SETTLE_RETRY_MAX_SECONDS = 30.0

MAX_KEY_LENGTH = 255
REPLAYED_HEADER = "Idempotent-Replayed"
_PER_RESPONSE_HEADERS = frozenset(
    {"content-length", "ratelimit-limit", "ratelimit-remaining", "ratelimit-reset", "ratelimit-policy", "retry-after"}
)


class InvalidIdempotencyKey(InvalidRequest):
    """The Idempotency-Key header must be 1 to 255 printable ASCII characters."""

    code = "invalid_idempotency_key"
    error = "Invalid Idempotency-Key"


class IdempotencyKeyReused(ClaraError):
    """This Idempotency-Key was already used with a different request body; use a new key for a new request."""

    code = "idempotency_key_reused"
    status = 409
    error = "Idempotency key reused"


class IdempotencyKeyInProgress(ClaraError):
    """A request with this Idempotency-Key is still running; retry shortly to get its response."""

    code = "idempotency_key_in_progress"
    status = 409
    error = "Idempotency key in progress"

    def __init__(self) -> None:
        super().__init__(headers={"Retry-After": "1"})


@dataclass(frozen=True, slots=True)
class Reply:
    """An HTTP response as stored for replay."""

    status: int
    body: bytes
    headers: dict[str, str]


Render = Callable[[ExecutionOutcome | ClaraError], Reply]
"""Turns a run's outcome, or the client error it ended with, into the response the caller gets."""
Produce = Callable[[Admission, ReceivedRequest], Awaitable[Reply]]
"""Runs an admitted request in the mode it asked for and returns its response: the run's result, or
202 for a run that goes on without the caller (its stored reply then names the same execution)."""


def checked_key(value: str) -> str:
    """The key, without the quotes of its structured-field form (`"abc"`), if it has them."""
    key = value[1:-1] if len(value) >= 2 and value[0] == value[-1] == '"' else value
    if not 0 < len(key) <= MAX_KEY_LENGTH or not all(" " <= char <= "~" for char in key):
        raise InvalidIdempotencyKey()
    return key


def fingerprint(request: ReceivedRequest) -> str:
    """What makes two requests "the same": body, content type and pinned version."""
    assert request.raw is not None
    digest = hashlib.sha256((request.content_type or "").strip().lower().encode())
    digest.update(b"\n" + (request.version_header or "").strip().encode() + b"\n")
    digest.update(request.raw)
    return digest.hexdigest()


class IdempotentExecutions:
    def __init__(
        self,
        database: Database,
        executions: ExecutionService,
        *,
        owner_id: uuid.UUID,
        ttl_seconds: float,
        lease_seconds: float,
    ) -> None:
        self._database = database
        self._executions = executions
        self._owner_id = owner_id
        """This process's lease: a claim it holds is released as soon as that lease expires."""
        self._settling: set[asyncio.Task[None]] = set()
        self._ttl = timedelta(seconds=ttl_seconds)
        self._lease = timedelta(seconds=lease_seconds)
        """How long a claim stays "in progress" without an answer, even with a live owner, before another
        request may take it over (longer than any run it could be waiting for)."""

    async def execute(
        self,
        slug: str,
        authorization: str | None,
        read_body: BodyReader,
        content_type: str | None,
        version_header: str | None,
        until_disconnected: Disconnection | None,
        *,
        key: str,
        produce: Produce,
        render: Render,
    ) -> Reply:
        admission = await self._executions.admit(slug, authorization)
        with admission.stamped():
            scope = queries.Scope(admission.principal.deployment.id, admission.principal.key_id, checked_key(key))
            request = await ReceivedRequest.receive(read_body, content_type, version_header, until_disconnected)
            if request.raw is None:
                return await produce(admission, request)
            claim_id = uuid.uuid4()
            request_print = fingerprint(request)
            held = await self._claim(scope, request_print, claim_id)
            if held is not None:
                return _replay(held, request_print, admission)
            return await self._run_claimed(scope, claim_id, admission, request, produce, render)

    async def _claim(self, scope: queries.Scope, request_print: str, claim_id: uuid.UUID) -> queries.Held | None:
        now = utcnow()
        async with self._database.write() as conn:
            return await queries.claim(
                conn,
                scope,
                fingerprint=request_print,
                claim_id=claim_id,
                now=now,
                locked_until=now + self._lease,
                expires_at=now + self._ttl,
                owner_id=self._owner_id,
            )

    async def _run_claimed(
        self,
        scope: queries.Scope,
        claim_id: uuid.UUID,
        admission: Admission,
        request: ReceivedRequest,
        produce: Produce,
        render: Render,
    ) -> Reply:
        try:
            try:
                reply = await produce(admission, request)
            except ClaraError as exc:
                if exc.status >= 500 or isinstance(exc, ClientClosedRequest):
                    raise
                reply = render(exc)
        except BaseException:
            await asyncio.shield(self._settle(scope, claim_id, None))
            raise
        await asyncio.shield(self._settle(scope, claim_id, reply))
        return reply

    async def _settle(self, scope: queries.Scope, claim_id: uuid.UUID, reply: Reply | None) -> None:
        """Store the reply for replays, or release the claim when there is none to store. The caller gets
        its answer either way; while the database is unreachable, this is retried in the background, so
        the key does not stay "in progress" once it answers again."""
        try:
            await self._write_settlement(scope, claim_id, reply)
        except DatabaseUnavailable:
            task = asyncio.create_task(self._settle_later(scope, claim_id, reply), name="idempotency-settle")
            self._settling.add(task)
            task.add_done_callback(self._settling.discard)
        except Exception:
            log.exception("idempotency_settle_failed", deployment_id=str(scope.deployment_id))

    async def _settle_later(self, scope: queries.Scope, claim_id: uuid.UUID, reply: Reply | None) -> None:
        delay = _SETTLE_RETRY_SECONDS
        while True:
            await asyncio.sleep(delay)
            try:
                await self._write_settlement(scope, claim_id, reply)
            except DatabaseUnavailable:
                delay = min(delay * 2, _SETTLE_RETRY_MAX_SECONDS)
                continue
            except Exception:
                log.exception("idempotency_settle_failed", deployment_id=str(scope.deployment_id))
            return

    async def _write_settlement(self, scope: queries.Scope, claim_id: uuid.UUID, reply: Reply | None) -> None:
        async with self._database.write() as conn:
            if reply is None:
                await queries.release(conn, scope, claim_id)
                return
            headers = {
                name: value for name, value in reply.headers.items() if name.lower() not in _PER_RESPONSE_HEADERS
            }
            stored = await queries.complete(conn, scope, claim_id, reply.status, headers, reply.body)
        if not stored:
            log.warning("idempotency_claim_lost", deployment_id=str(scope.deployment_id))

    async def close(self) -> None:
        """Stop retrying settlements; a claim left in progress is released when this process's lease expires."""
        for task in list(self._settling):
            task.cancel()
        await asyncio.gather(*self._settling, return_exceptions=True)

    async def prune(self) -> int:
        """Delete expired keys; return how many."""
        return await delete_in_batches(self._database, idempotency_keys, idempotency_keys.c.expires_at <= utcnow())


def _replay(held: queries.Held, request_print: str, admission: Admission) -> Reply:
    if held.fingerprint != request_print:
        raise IdempotencyKeyReused()
    if held.state != queries.COMPLETED:
        raise IdempotencyKeyInProgress()
    assert held.response_status is not None
    assert held.response_body is not None
    headers = {**(held.response_headers or {}), **admission.headers, REPLAYED_HEADER: "true"}
    return Reply(held.response_status, held.response_body, headers)
