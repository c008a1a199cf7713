"""The composition root of the service layer: every long-lived object, built once per process."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from clara_runner.flow.context import HttpClients, RunContext
from clara_runner.flow.events import EventSink
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.flow.sandbox import JsSandbox
from clara_runner.security.admin import HOW_TO_SET, AdminPolicy
from clara_runner.security.rate_limits import Counters, RateLimit, RateLimiter, RedisCounters
from clara_runner.security.redaction import Redactor
from clara_runner.security.secret import load_secret
from clara_runner.service.access import ManagementAccess
from clara_runner.service.auth import KeyAuthenticator
from clara_runner.service.capacity import ExecutionCapacity
from clara_runner.service.deployments import DeploymentService
from clara_runner.service.execute import ExecutionService
from clara_runner.service.housekeeping import Housekeeper
from clara_runner.service.idempotency import IdempotentExecutions
from clara_runner.service.outbound import outbound_http
from clara_runner.service.retention import ExecutionRetention
from clara_runner.service.safeguards import Safeguards
from clara_runner.service.usage import UsageRecorder
from clara_runner.service.versions import VersionCache
from clara_runner.service.versions_admin import VersionAdmin
from clara_runner.settings import Settings
from clara_runner.store.database import Database
from clara_runner.store.rate_limits import DatabaseCounters, prune_windows

log = structlog.get_logger(__name__)

_LEASE_MARGIN_SECONDS = 60.0
"""How long past its longest possible run an idempotency claim is kept before another request may take it."""


@dataclass
class Services:
    settings: Settings
    database: Database
    registry: NodeRegistry
    access: ManagementAccess
    deployments: DeploymentService
    executions: ExecutionService
    versions: VersionAdmin
    usage: UsageRecorder
    http: HttpClients
    sandbox: JsSandbox
    started_at: float
    rate_limits: RateLimiter
    capacity: ExecutionCapacity
    idempotent: IdempotentExecutions
    housekeeping: Housekeeper

    @classmethod
    def build(cls, settings: Settings, registry: NodeRegistry | None = None) -> Services:
        database = Database(
            settings.resolved_database_url,
            pool_size=settings.db_pool_size,
            max_overflow=settings.db_pool_overflow,
        )
        registry = registry or default_registry()
        secret = load_secret(settings.secret_key, settings.data_dir)
        keys = KeyAuthenticator(database, secret, settings.key_cache_seconds)
        access = ManagementAccess(AdminPolicy(settings.admin_key), keys)
        usage = UsageRecorder(database)
        versions = VersionCache(database, registry)
        http = outbound_http(settings)
        endpoints = settings.service_endpoints()
        sandbox = JsSandbox(settings.sandbox_limits())

        def run_context(execution_id: str, events: EventSink) -> RunContext:
            return RunContext(events=events, execution_id=execution_id, services=endpoints, http=http, sandbox=sandbox)

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
        executions = ExecutionService(
            database,
            keys,
            access,
            versions,
            usage,
            settings.max_execution_seconds,
            run_context,
            rate_limits=rate_limits,
            capacity=capacity,
            safeguards=Safeguards(Redactor(settings.secret_values()), settings.max_output_size),
        )
        idempotent = IdempotentExecutions(
            database,
            executions,
            ttl_seconds=settings.idempotency_ttl_seconds,
            lease_seconds=settings.max_execution_seconds + queue_seconds + _LEASE_MARGIN_SECONDS,
        )
        housekeeping = Housekeeper(
            [
                ("executions", ExecutionRetention(database, settings.execution_retention_days).prune),
                ("idempotency_keys", idempotent.prune),
                ("rate_limit_windows", lambda: prune_windows(database)),
            ],
            settings.housekeeping_interval_seconds,
        )

        return cls(
            settings=settings,
            database=database,
            registry=registry,
            access=access,
            deployments=DeploymentService(
                database, registry, secret, keys, usage, versions, settings.workflow_limits()
            ),
            executions=executions,
            versions=VersionAdmin(database, registry, keys, access, settings.workflow_limits()),
            usage=usage,
            http=http,
            sandbox=sandbox,
            started_at=time.monotonic(),
            rate_limits=rate_limits,
            capacity=capacity,
            idempotent=idempotent,
            housekeeping=housekeeping,
        )

    async def start(self) -> None:
        if not self.access.admin.configured:
            log.warning(
                "admin_key_not_set",
                message="Management endpoints answer loopback clients only. " + HOW_TO_SET,
            )
        self.usage.start()
        self.housekeeping.start()
        await self.sandbox.warm()

    async def stop(self) -> None:
        await self.housekeeping.stop()
        await self.rate_limits.aclose()
        await self.usage.stop()
        await self.sandbox.aclose()
        await self.http.aclose()
        await self.database.close()
