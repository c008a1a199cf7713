"""The outbox: turns a run's end into delivery rows, durably, and wakes the deliverer.

The run core calls two things:

* `register_callback(execution_id, deployment, url)` before a run that named `?callbackUrl=` starts. The
  URL is stored as a waiting callback (a row, not a note in memory), so a crash mid-run loses nothing.
* `run_finished(row, deployment)` for every run, after its final row is stored. With no webhook on the
  deployment and no callback on the run, it reads nothing and writes nothing: which deployments have
  webhooks is cached for all of them at once, refreshed at most every `CACHE_SECONDS` (another
  replica's new webhook is seen within that), and at once in this process when one is created or
  deleted here. Otherwise it inserts one pending delivery per matching webhook and the callback's.
  It never raises: a failure is logged and the sweep repairs it.

The sweep (at start and every `SWEEP_INTERVAL_SECONDS`) is what makes deliveries survive a crash
between a run's final row and its deliveries, or a database outage at that moment: it inserts the
deliveries missing for final runs of the last `WEBHOOK_SWEEP_WINDOW_SECONDS` that finished after their
webhook was created, and activates the waiting callbacks of runs that are final (a run interrupted by
a lost process included). Inserting is idempotent (one delivery per run and endpoint, by unique index),
so the live path and the sweeps of several replicas may race harmlessly.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta

import structlog

from clara_runner.clock import utcnow
from clara_runner.errors import DatabaseUnavailable
from clara_runner.security.egress import EgressPolicy, Resolver, system_resolver
from clara_runner.service.webhooks import payloads
from clara_runner.service.webhooks.errors import CallbacksNotAllowed, InvalidCallbackUrl
from clara_runner.service.webhooks.targets import check_form, check_reachable, parsed_url
from clara_runner.store import webhooks as queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord, ExecutionWrite
from clara_runner.store.webhooks import FinishedRunRecord, NewDelivery, WebhookRecord

log = structlog.get_logger(__name__)

CACHE_SECONDS = 5.0
"""How stale this process's list of deployments with webhooks may be (another replica's changes)."""
SWEEP_INTERVAL_SECONDS = 60.0
_SWEEP_BATCH = 500
_ORPHAN_CALLBACK_AGE = timedelta(days=1)
"""A waiting callback whose run has no row after this long will never have one (see `prune_callbacks`)."""


def callback_url(policy: EgressPolicy, deployment: DeploymentRecord, url: str) -> str:
    """The `callbackUrl` an execute request named, checked without any I/O (so the execute path can call
    it before anything runs): 403 `callbacks_not_allowed` unless the deployment allows callbacks, 400
    `invalid_callback_url` for anything but an absolute http(s) URL, or a literal address or metadata
    host the egress policy refuses. `register_callback` adds the check that resolves the host."""
    if not deployment.callbacks_allowed:
        raise CallbacksNotAllowed(
            f"Deployment '{deployment.slug}' does not accept a callbackUrl; the admin can allow it with "
            '"allowCallbackUrl": true (deploy or PUT)'
        )
    parsed = parsed_url(url, "callbackUrl", InvalidCallbackUrl)
    check_form(policy, parsed, "callbackUrl", InvalidCallbackUrl)
    return str(parsed)


class WebhookOutbox:
    def __init__(
        self,
        database: Database,
        policy: EgressPolicy,
        *,
        sweep_window_seconds: float,
        wake: Callable[[], None] = lambda: None,
        resolver: Resolver = system_resolver,
    ) -> None:
        self._database = database
        self._policy = policy
        self._window = timedelta(seconds=sweep_window_seconds)
        self._wake = wake
        self._resolver = resolver
        self._with_webhooks: frozenset[uuid.UUID] = frozenset()
        self._fresh_until = 0.0
        self._refresh_lock = asyncio.Lock()
        self._callbacks: set[uuid.UUID] = set()
        """Runs of this process that registered a callback and have not finished yet."""

    def check_callback(self, deployment: DeploymentRecord, url: str) -> str:
        """`callback_url` under this server's egress policy."""
        return callback_url(self._policy, deployment, url)

    async def register_callback(self, execution_id: uuid.UUID, deployment: DeploymentRecord, url: str) -> None:
        """Check `url` fully (the host resolved under the egress policy) and store it as the run's waiting
        callback, delivered when the run ends."""
        checked = self.check_callback(deployment, url)
        parsed = parsed_url(checked, "callbackUrl", InvalidCallbackUrl)
        await check_reachable(self._policy, parsed, "callbackUrl", InvalidCallbackUrl, self._resolver)
        async with self._database.write() as conn:
            await queries.insert_callback(conn, execution_id, deployment.id, checked, utcnow())
        self._callbacks.add(execution_id)

    async def run_finished(self, row: ExecutionWrite, deployment: DeploymentRecord) -> None:
        """Queue the deliveries of a run whose final row is stored (see the module's description)."""
        if not row.final:
            return
        has_callback = row.id in self._callbacks
        self._callbacks.discard(row.id)
        try:
            has_webhooks = await self._has_webhooks(deployment.id)
            if not (has_webhooks or has_callback):
                return
            run = payloads.finished_run(row, deployment)
            event = payloads.event_of(run.status)
            async with self._database.write() as conn:
                hooks = await queries.list_webhooks(conn, deployment.id) if has_webhooks else []
                wanted = [hook for hook in hooks if payloads.subscribed(hook.events, event)]
                deliveries = [_delivery(run, hook.url, hook.id) for hook in wanted]
                if has_callback:
                    url = await queries.take_callback(conn, row.id)
                    if url is not None:
                        deliveries.append(_delivery(run, url, None))
                queued = await queries.insert_deliveries(conn, deliveries, utcnow())
        except DatabaseUnavailable:
            log.warning("webhook_deliveries_not_queued", execution_id=str(row.id), reason="database unreachable")
            return
        except Exception:
            log.exception("webhook_deliveries_not_queued", execution_id=str(row.id), repair="the next sweep")
            return
        if queued:
            self._wake()

    def wake_deliverer(self) -> None:
        """A delivery became due now (a redelivery): have the deliverer look at once."""
        self._wake()

    def webhooks_changed(self, deployment_id: uuid.UUID, present: bool) -> None:
        """A webhook was created (`present`) or deleted here: let this process see it at once."""
        if present:
            self._with_webhooks = self._with_webhooks | {deployment_id}
        self._fresh_until = 0.0

    async def _has_webhooks(self, deployment_id: uuid.UUID) -> bool:
        if time.monotonic() >= self._fresh_until:
            async with self._refresh_lock:
                if time.monotonic() >= self._fresh_until:
                    async with self._database.read() as conn:
                        self._with_webhooks = frozenset(await queries.deployments_with_webhooks(conn))
                    self._fresh_until = time.monotonic() + CACHE_SECONDS
        return deployment_id in self._with_webhooks

    async def sweep(self) -> int:
        """Queue what the live path missed (see the module's description); returns how many were queued."""
        since = utcnow() - self._window
        queued = 0
        async with self._database.read() as conn:
            hooks = await queries.list_webhooks(conn)
        for hook in hooks:
            queued += await self._sweep_webhook(hook, since)
        queued += await self._activate_callbacks()
        if queued:
            log.info("webhook_deliveries_recovered", count=queued)
            self._wake()
        return queued

    async def _sweep_webhook(self, hook: WebhookRecord, since: datetime) -> int:
        wanted = payloads.outcome_filter(hook.events)
        queued = 0
        while True:
            async with self._database.write() as conn:
                runs = await queries.runs_missing_deliveries(
                    conn, hook, succeeded=wanted, since=since, limit=_SWEEP_BATCH
                )
                rows = [_delivery(run, hook.url, hook.id) for run in runs]
                queued += await queries.insert_deliveries(conn, rows, utcnow())
            if len(runs) < _SWEEP_BATCH:
                return queued

    async def _activate_callbacks(self) -> int:
        queued = 0
        while True:
            async with self._database.write() as conn:
                waiting = await queries.final_callbacks(conn, _SWEEP_BATCH)
                rows = [_delivery(run, url, None) for url, run in waiting]
                queued += await queries.insert_deliveries(conn, rows, utcnow())
                await queries.delete_callbacks(conn, [run.id for _, run in waiting])
            if len(waiting) < _SWEEP_BATCH:
                return queued

    async def prune_callbacks(self) -> int:
        """Housekeeping: forget callbacks of runs that never got a row (refused before they started)."""
        async with self._database.write() as conn:
            return await queries.prune_orphan_callbacks(conn, utcnow() - _ORPHAN_CALLBACK_AGE)


def _delivery(run: FinishedRunRecord, url: str, webhook_id: uuid.UUID | None) -> NewDelivery:
    """The run's delivery to a webhook, or (`webhook_id` None) to its callback URL."""
    return NewDelivery(
        id=uuid.uuid4(),
        webhook_id=webhook_id,
        execution_id=run.id,
        deployment_id=run.deployment_id,
        url=url,
        event=payloads.event_of(run.status),
        payload=payloads.payload(run),
    )
