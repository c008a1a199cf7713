"""The composition root: every long-lived object of a server process, built once from `Settings`, and
the order in which they start, drain and stop."""

from __future__ import annotations

import time
from dataclasses import dataclass, field

import structlog

from clara_runner.errors import DatabaseUnavailable
from clara_runner.flow.context import HttpClients, RunContext
from clara_runner.flow.events import EventSink
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.flow.outbound import OutboundHook
from clara_runner.flow.sandbox import JsSandbox
from clara_runner.runtime.outbound import outbound_http
from clara_runner.runtime.telemetry import instrument, llm_observer, node_observer
from clara_runner.security.admin import HOW_TO_SET, AdminPolicy
from clara_runner.security.rate_limits import Counters, RateLimit, RateLimiter, RedisCounters
from clara_runner.security.redaction import Redactor
from clara_runner.security.sessions import SessionLifetime
from clara_runner.service.access import Access
from clara_runner.service.deployments.loaded import VersionCache
from clara_runner.service.deployments.manage import DeploymentService
from clara_runner.service.deployments.versions import VersionAdmin
from clara_runner.service.execution.admission import Admitter
from clara_runner.service.execution.budgets import UsageBudgets
from clara_runner.service.execution.cancellation import POLL_SECONDS as CANCEL_POLL_SECONDS
from clara_runner.service.execution.cancellation import CancelRequests
from clara_runner.service.execution.capacity import ExecutionCapacity
from clara_runner.service.execution.detached import DetachedRuns
from clara_runner.service.execution.event_recorder import FLUSH_SECONDS, EventRecorder
from clara_runner.service.execution.hand_back import HandBackToQueue
from clara_runner.service.execution.history import ExecutionHistory
from clara_runner.service.execution.idempotency import IdempotentExecutions, Render
from clara_runner.service.execution.lease import ProcessLease
from clara_runner.service.execution.queue_worker import QueueWorker, outbound_marker
from clara_runner.service.execution.queued import QueuedRuns
from clara_runner.service.execution.recovery import OrphanSweeper, QueueRetry
from clara_runner.service.execution.relay import RunRelay
from clara_runner.service.execution.run_resources import RunResources
from clara_runner.service.execution.runs import SERVER_SHUTDOWN, ExecutionService
from clara_runner.service.execution.safeguards import Safeguards
from clara_runner.service.execution.usage import UsageReports
from clara_runner.service.housekeeping.housekeeper import Housekeeper
from clara_runner.service.housekeeping.periodic import Periodic
from clara_runner.service.housekeeping.retention import ExecutionRetention, prune_leases
from clara_runner.service.keys.authenticate import KeyAuthenticator
from clara_runner.service.keys.manage import KeyAdmin
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.service.manager_sessions import ManagerSessions
from clara_runner.service.stats.report import StatsService
from clara_runner.service.webhooks.deliverer import Deliverer
from clara_runner.service.webhooks.manage import WebhookAdmin
from clara_runner.service.webhooks.outbox import SWEEP_INTERVAL_SECONDS, WebhookOutbox
from clara_runner.service.webhooks.schedule import RetrySchedule
from clara_runner.settings import Settings
from clara_runner.store.database import Database
from clara_runner.store.job_queue import DEFAULT_QUEUE, JobQueue, RunChanges
from clara_runner.store.rate_limits import DatabaseCounters, prune_windows
from clara_runner.store.writer import ExecutionWriter

log = structlog.get_logger(__name__)

_CLAIM_MARGIN_SECONDS = 60.0
"""How long past its longest possible run an idempotency claim is kept, even with a live owner."""
_INTERRUPTED_ANSWER_SECONDS = 2.0
"""After interrupting the runs left at the end of the grace period, how long they get to record and answer."""
_WRITER_DRAIN_SECONDS = 3.0
"""How long the writer keeps trying to store its last rows at shutdown before it spills them to disk."""
_QUOTA_RETURN_SECONDS = 1.0
_STALLED_FLOOR_SECONDS = 10.0
"""Queue backend: a job is put back once procrastinate heard nothing from its worker for twice the lease,
and never sooner than this (a loaded worker's heartbeat can be late; a job put back too soon runs twice)."""


@dataclass
class Runtime:
    settings: Settings
    database: Database
    registry: NodeRegistry
    access: Access
    deployments: DeploymentService
    versions: VersionAdmin
    admitter: Admitter
    executions: ExecutionService
    history: ExecutionHistory
    idempotent: IdempotentExecutions
    detached: DetachedRuns
    run_resources: RunResources
    cancel_requests: CancelRequests
    event_recorder: EventRecorder
    writer: ExecutionWriter
    lease: ProcessLease
    sweeper: OrphanSweeper
    housekeeping: Housekeeper
    rate_limits: RateLimiter
    capacity: ExecutionCapacity
    http: HttpClients
    sandbox: JsSandbox
    secret: ServerSecret
    webhooks: WebhookOutbox
    """The run core's hook: `register_callback` before a run, `run_finished` after its final row."""
    webhook_admin: WebhookAdmin
    deliverer: Deliverer
    keys: KeyAdmin
    stats: StatsService
    manager_sessions: ManagerSessions
    """Sign-in sessions of the Deployment Manager (`web/`)."""
    usage: UsageReports
    # Queue backend (EXECUTION_BACKEND=queue): the job queue, the web side (queued, relay) or the worker's.
    jobs: JobQueue | None = None
    queued: QueuedRuns | None = None
    run_changes: RunChanges | None = None
    queue_worker: QueueWorker | None = None
    # End of the queue backend's objects.
    started_at: float = field(default_factory=time.monotonic)
    _loops: list[Periodic] = field(default_factory=list)

    @classmethod
    def build(
        cls, settings: Settings, registry: NodeRegistry | None = None, *, render: Render, role: str = "web"
    ) -> Runtime:
        """`render` turns a run's outcome into the response body a caller gets (the server's envelopes):
        runs nobody waits for are rendered here, as their last event. `role` is `web` (a server process)
        or `worker` (`clara-runner worker`, queue backend)."""
        worker = role == "worker"
        database = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_overflow,
        )
        registry = registry or default_registry()
        secret = ServerSecret(settings.secret_key, database, settings.data_dir)
        keys = KeyAuthenticator(database, secret, settings.key_cache_seconds)
        access = Access(AdminPolicy(settings.admin_key), keys, database)
        versions = VersionCache(database, registry)
        http = outbound_http(settings, settings.egress_policy())
        endpoints = settings.service_endpoints()
        sandbox = JsSandbox(settings.sandbox_limits())
        value_limits = settings.value_limits()
        llm_calls, nodes = llm_observer(settings), node_observer()
        mark_outbound = outbound_marker(database) if worker else None

        def run_context(
            execution_id: str, events: EventSink, before_outbound: OutboundHook, stream_tokens: bool
        ) -> RunContext:
            return RunContext(
                events=events,
                execution_id=execution_id,
                services=endpoints,
                http=http,
                sandbox=sandbox,
                value_limits=value_limits,
                before_outbound=before_outbound
                if mark_outbound is None
                else mark_outbound(execution_id, before_outbound),
                stream_tokens=stream_tokens,
                llm_calls=llm_calls,  # metrics, costs, traces
                nodes=nodes,
            )

        counters: Counters = RedisCounters(settings.redis_url) if settings.redis_url else DatabaseCounters(database)
        rate_limits = RateLimiter(
            counters,
            RateLimit(
                enabled=settings.rate_limit_enabled,
                max_requests=settings.rate_limit_max_requests,
                window_seconds=settings.rate_limit_window_ms // 1000,
            ),
        )
        queue_seconds = settings.queue_timeout_ms / 1000
        capacity = ExecutionCapacity(settings.max_concurrent_executions, settings.max_queued_executions, queue_seconds)
        writer = ExecutionWriter(
            database.execution_batches(),
            spill_dir=settings.data_dir / "unwritten",
            buffer_limit=settings.execution_buffer_limit,
        )
        lease = ProcessLease(database, role, settings.process_lease_seconds)
        admitter = Admitter(access, rate_limits, writer, capacity, UsageBudgets(database, settings.usage_cache_seconds))
        deliverer = Deliverer(
            database,
            http.workflow,
            RetrySchedule(settings.webhook_retry_delays()),
            secret,
            owner_id=lease.id,
            timeout_seconds=settings.webhook_timeout_seconds,
            poll_seconds=settings.webhook_poll_seconds,
        )
        egress = settings.egress_policy()
        webhooks = WebhookOutbox(
            database,
            egress,
            sweep_window_seconds=settings.webhook_sweep_window_seconds,
            wake=deliverer.wake,
        )
        executions = ExecutionService(
            admitter,
            versions,
            writer,
            capacity,
            owner_id=lease.id,
            max_seconds=settings.max_execution_seconds,
            max_detached_seconds=settings.max_detached_execution_seconds,
            record_after_seconds=settings.run_record_after_ms / 1000,
            detached_record_after_seconds=settings.detached_record_after_ms / 1000,
            context_factory=run_context,
            safeguards=Safeguards(Redactor(settings.secret_values()), settings.max_output_size),
            notifier=webhooks,
        )
        idempotent = IdempotentExecutions(
            database,
            executions,
            owner_id=lease.id,
            ttl_seconds=settings.idempotency_ttl_seconds,
            lease_seconds=settings.max_execution_seconds + queue_seconds + _CLAIM_MARGIN_SECONDS,
        )
        event_recorder = EventRecorder(database, announce=worker)
        detached = DetachedRuns(executions, event_recorder, render)
        event_recorder.on_stored = detached.forget
        manager_sessions = ManagerSessions(
            database,
            secret,
            settings.admin_key,
            SessionLifetime(settings.manager_idle_minutes * 60, settings.manager_session_hours * 3600),
        )
        jobs = (
            JobQueue(database, stalled_seconds=max(2 * settings.process_lease_seconds, _STALLED_FLOOR_SECONDS))
            if settings.execution_backend == "queue"
            else None
        )
        retry = None if jobs is None else QueueRetry(jobs, DEFAULT_QUEUE, settings.queue_max_attempts)
        if worker and retry is not None:
            executions.hand_back = HandBackToQueue(database, event_recorder, retry, lease.id)
        relay = RunRelay() if jobs is not None and not worker else None
        queued = (
            QueuedRuns(
                database, jobs, relay, render, executions.check, queue=DEFAULT_QUEUE, max_depth=settings.queue_max_depth
            )
            if jobs is not None and relay is not None
            else None
        )
        housekeeping = Housekeeper(
            [
                ("executions", ExecutionRetention(database, settings.execution_retention_days).prune),
                ("idempotency_keys", idempotent.prune),
                ("rate_limit_windows", lambda: prune_windows(database)),
                ("process_leases", lambda: prune_leases(database)),
                ("execution_callbacks", webhooks.prune_callbacks),
                ("manager_sessions", manager_sessions.prune),
                *([("queued_runs", queued.prune)] if queued is not None else []),
            ]
        )
        runtime = cls(
            settings=settings,
            database=database,
            registry=registry,
            access=access,
            deployments=DeploymentService(database, registry, secret, keys, versions, settings.workflow_limits()),
            versions=VersionAdmin(database, registry, keys, settings.workflow_limits()),
            admitter=admitter,
            executions=executions,
            history=ExecutionHistory(database, access),
            idempotent=idempotent,
            detached=detached,
            run_resources=RunResources(database, access, executions, detached, relay),
            cancel_requests=CancelRequests(database, executions.in_flight, lease.id),
            event_recorder=event_recorder,
            writer=writer,
            lease=lease,
            sweeper=OrphanSweeper(database, lease.id, retry),
            housekeeping=housekeeping,
            rate_limits=rate_limits,
            capacity=capacity,
            http=http,
            sandbox=sandbox,
            secret=secret,
            webhooks=webhooks,
            webhook_admin=WebhookAdmin(database, webhooks, egress, secret),
            deliverer=deliverer,
            keys=KeyAdmin(database, secret, keys),
            stats=StatsService(database),
            manager_sessions=manager_sessions,
            usage=UsageReports(database, access),
            jobs=jobs,
            queued=queued,
            run_changes=RunChanges(database, relay.changed) if relay is not None else None,
            queue_worker=QueueWorker(
                database, executions, detached, event_recorder, render, jobs, owner_id=lease.id, queue=DEFAULT_QUEUE
            )
            if jobs is not None and worker
            else None,
        )
        instrument(runtime)  # metrics wiring (runtime/telemetry.py)
        return runtime

    async def start(self) -> None:
        if not self.access.admin.configured:
            log.warning(
                "admin_key_not_set",
                message="Management endpoints answer loopback clients only. " + HOW_TO_SET,
            )
            if self.settings.hosts().any_host:
                log.warning(
                    "any_host_with_loopback_trust",
                    message="ALLOWED_HOSTS=* lets any web page open in a browser on this machine manage "
                    "deployments (DNS rebinding). " + HOW_TO_SET,
                )
        try:
            await self.lease.register()
            await self.secret.load()
            if self.jobs is not None:
                await self.jobs.ensure_schema()
            log.info("key_secret_loaded", source=self.secret.source)
        except DatabaseUnavailable:
            log.warning("database_unreachable_at_start", reason="the lease and the key secret follow when it answers")
        self.writer.start()
        if self.run_changes is not None:
            self.run_changes.start()
        self._loops = [
            Periodic("process-lease", self.lease.renew_every, self.lease.renew),
            Periodic("orphan-sweep", self.lease.renew_every, self.sweeper.sweep, first_delay=0),
            Periodic("quota-return", _QUOTA_RETURN_SECONDS, self.rate_limits.give_back_idle),
            Periodic("run-events", FLUSH_SECONDS, self.event_recorder.flush_all),
            Periodic("cancel-requests", CANCEL_POLL_SECONDS, self.cancel_requests.poll),
            Periodic("webhook-sweep", SWEEP_INTERVAL_SECONDS, self.webhooks.sweep, first_delay=0),
            Periodic(
                "housekeeping",
                self.settings.housekeeping_interval_seconds,
                self.housekeeping.run_once,
                first_delay=min(self.settings.housekeeping_interval_seconds, 60.0),
            ),
        ]
        if self.queue_worker is not None and self.jobs is not None:
            await self.jobs.open()
            self._loops.append(Periodic("stalled-jobs", self.lease.renew_every, self.jobs.retry_stalled))
        for loop in self._loops:
            loop.start()
        self.deliverer.start()
        await self.sandbox.warm()

    async def drain(self) -> None:
        """Stop taking runs; give the running ones `SHUTDOWN_GRACE_SECONDS`, then interrupt the rest (a
        worker hands back to the queue those its retry rules allow, `hand_back.py`)."""
        self.admitter.draining = True
        in_flight = self.executions.in_flight
        if await in_flight.wait_idle(self.settings.shutdown_grace_seconds):
            return
        log.warning("runs_interrupted", code=SERVER_SHUTDOWN, count=len(in_flight))
        in_flight.interrupt_all(SERVER_SHUTDOWN)
        await in_flight.wait_idle(_INTERRUPTED_ANSWER_SECONDS)

    async def stop(self) -> None:
        self.admitter.draining = True
        for loop in self._loops:
            await loop.stop()
        if self.run_changes is not None:
            await self.run_changes.stop()
        if self.jobs is not None:
            await self.jobs.close()
        try:
            await self.rate_limits.aclose()
        except Exception:
            log.exception("quota_return_failed")
        await self.writer.close(_WRITER_DRAIN_SECONDS)
        await self.deliverer.stop()
        try:
            await self.event_recorder.flush_all()
        except DatabaseUnavailable:
            log.warning("run_events_not_stored", reason="database unreachable at shutdown")
        try:
            await self.lease.release()
        except DatabaseUnavailable:
            log.warning("process_lease_not_released", reason="database unreachable; it expires by itself")
        await self.idempotent.close()
        await self.sandbox.aclose()
        await self.http.aclose()
        await self.database.close()
