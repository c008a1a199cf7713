"""The deliverer: a background loop of each server process that sends due deliveries.

Each round claims due rows for a while (`claim_due`: every replica may run this loop, and no delivery is
sent by two at once while its claim holds), POSTs each one through the egress-checked workflow client,
and writes the attempt back: its time, status code, error and latency appended to the delivery's log,
and either `succeeded` (any 2xx), the next attempt's time by the retry schedule, or `failed` once the
schedule is spent. Redirects are not followed (a 3xx is a failure): a receiver's address is the one
registered, checked by the egress policy, not wherever it points next.

A claim lasts the attempt's timeout plus a margin; a process that dies mid-attempt leaves the row
`delivering` until its process lease expires (or the claim, if sooner), when any deliverer takes it
again. So a delivery is sent at least once, and rarely twice: receivers drop repeats by `webhook-id`.

The loop sleeps until the outbox wakes it (a run ended here) or `WEBHOOK_POLL_SECONDS` pass (retries
coming due, deliveries queued by other replicas); at most `MAX_IN_FLIGHT` attempts run at once, so one
slow receiver holds up no other.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
import uuid
from datetime import timedelta

import httpx2
import structlog

from clara_runner.clock import iso, utcnow
from clara_runner.errors import DatabaseUnavailable
from clara_runner.security.egress import EgressBlocked
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.service.webhooks.schedule import RetrySchedule
from clara_runner.service.webhooks.signing import callback_secret, signed_headers
from clara_runner.store import webhooks as queries
from clara_runner.store.database import Database
from clara_runner.store.webhooks import FAILED, PENDING, SUCCEEDED, AttemptResult, DeliveryRecord
from clara_runner.telemetry import metrics

log = structlog.get_logger(__name__)

MAX_IN_FLIGHT = 32
CLAIM_MARGIN_SECONDS = 30.0
"""How long past an attempt's timeout its claim holds: the time to write the attempt back."""
MAX_ERROR_LENGTH = 500
USER_AGENT = "clara-runner-webhooks/1"


class Deliverer:
    def __init__(
        self,
        database: Database,
        client: httpx2.AsyncClient,
        schedule: RetrySchedule,
        server_secret: ServerSecret,
        *,
        owner_id: uuid.UUID,
        timeout_seconds: float,
        poll_seconds: float,
    ) -> None:
        self._database = database
        self._client = client
        self._schedule = schedule
        self._server_secret = server_secret
        self._owner_id = owner_id
        self._timeout = timeout_seconds
        self._poll = poll_seconds
        self._wake = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """Look for due deliveries now rather than at the next poll."""
        self._wake.set()

    def start(self) -> None:
        self._task = asyncio.create_task(self._loop(), name="webhook-deliverer")

    async def stop(self) -> None:
        """Stop claiming and cancel attempts under way: their claims expire and another process (or this
        one, started again) sends them."""
        tasks = [task for task in (self._task, *self._in_flight) if task is not None]
        for task in tasks:
            task.cancel()
        for task in tasks:
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def _loop(self) -> None:
        while True:
            self._wake.clear()
            free = MAX_IN_FLIGHT - len(self._in_flight)
            claimed = await self._claim(free) if free > 0 else []
            for delivery in claimed:
                task = asyncio.create_task(self._attempt(delivery), name=f"webhook-delivery-{delivery.id}")
                self._in_flight.add(task)
                task.add_done_callback(self._finished)
            if claimed and len(claimed) == free:
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), self._poll)

    def _finished(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._wake.set()

    async def _claim(self, limit: int) -> list[DeliveryRecord]:
        now = utcnow()
        locked_until = now + timedelta(seconds=self._timeout + CLAIM_MARGIN_SECONDS)
        try:
            async with self._database.write() as conn:
                return await queries.claim_due(conn, self._owner_id, now, locked_until, limit)
        except DatabaseUnavailable:
            log.warning("webhook_claim_postponed", reason="database unreachable")
        except Exception:
            log.exception("webhook_claim_failed")
        return []

    async def _attempt(self, delivery: DeliveryRecord) -> None:
        """Send the delivery once and write the attempt back."""
        status, error, latency_ms = await self._send(delivery)
        now = utcnow()
        attempts = delivery.attempts + 1
        entry = {"at": iso(now), "statusCode": status, "error": error, "latencyMs": latency_ms}
        if error is None:
            result = AttemptResult(SUCCEEDED, None, status, None, [*delivery.attempt_log, entry])
        else:
            retry_at = self._schedule.next_attempt(attempts, now)
            state = PENDING if retry_at is not None else FAILED
            result = AttemptResult(state, retry_at, status, error, [*delivery.attempt_log, entry])
        metrics.webhook_attempt(result.state == SUCCEEDED, result.state == PENDING)
        try:
            async with self._database.write() as conn:
                kept = await queries.record_attempt(conn, delivery.id, self._owner_id, result, now)
        except Exception:
            log.exception("webhook_attempt_not_recorded", delivery_id=str(delivery.id), retry="when its claim expires")
            return
        if not kept:
            log.warning("webhook_claim_lost", delivery_id=str(delivery.id))
        elif result.state == FAILED:
            log.warning("webhook_delivery_failed", delivery_id=str(delivery.id), attempts=attempts, error=error)

    async def _send(self, delivery: DeliveryRecord) -> tuple[int | None, str | None, int]:
        """(status code, error or None on a 2xx, latency in ms) of one POST."""
        body = delivery.payload.encode()
        secret = delivery.secret or callback_secret(await self._server_secret.load(), delivery.deployment_id)
        headers = {
            "content-type": "application/json",
            "user-agent": USER_AGENT,
            **signed_headers(secret, str(delivery.id), utcnow(), body),
        }
        began = time.perf_counter()
        status: int | None = None
        error: str | None = None
        try:
            async with (
                asyncio.timeout(self._timeout),
                self._client.stream(
                    "POST", delivery.url, content=body, headers=headers, timeout=self._timeout, follow_redirects=False
                ) as response,
            ):
                status = response.status_code
        except (TimeoutError, httpx2.TimeoutException):
            error = f"no answer within {self._timeout:g} s"
        except EgressBlocked as exc:
            error = str(exc)
        except Exception as exc:  # a delivery's failure, whatever it is, is recorded and retried
            error = f"{type(exc).__name__}: {exc}".strip().rstrip(":")
        latency_ms = round((time.perf_counter() - began) * 1000)
        if status is not None and not 200 <= status < 300:
            error = f"HTTP {status}"
        return status, None if error is None else error[:MAX_ERROR_LENGTH], latency_ms
