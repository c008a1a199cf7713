"""The composition root of the service layer: every long-lived object, built once per process."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from clara_runner.flow.context import HttpClients, RunContext, default_http_clients
from clara_runner.flow.events import EventSink
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.flow.sandbox import JsSandbox
from clara_runner.security.admin import HOW_TO_SET, AdminPolicy
from clara_runner.security.secret import load_secret
from clara_runner.service.access import ManagementAccess
from clara_runner.service.auth import KeyAuthenticator
from clara_runner.service.deployments import DeploymentService
from clara_runner.service.execute import ExecutionService
from clara_runner.service.usage import UsageRecorder
from clara_runner.service.versions import VersionCache
from clara_runner.settings import Settings
from clara_runner.store.database import Database

log = structlog.get_logger(__name__)


@dataclass
class Services:
    settings: Settings
    database: Database
    registry: NodeRegistry
    access: ManagementAccess
    deployments: DeploymentService
    executions: ExecutionService
    usage: UsageRecorder
    http: HttpClients
    sandbox: JsSandbox
    started_at: float

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
        http = default_http_clients()
        endpoints = settings.service_endpoints()
        sandbox = JsSandbox(settings.sandbox_limits())

        def run_context(execution_id: str, events: EventSink) -> RunContext:
            return RunContext(events=events, execution_id=execution_id, services=endpoints, http=http, sandbox=sandbox)

        return cls(
            settings=settings,
            database=database,
            registry=registry,
            access=access,
            deployments=DeploymentService(database, registry, secret, keys, usage, versions),
            executions=ExecutionService(
                database, keys, access, versions, usage, settings.max_execution_seconds, run_context
            ),
            usage=usage,
            http=http,
            sandbox=sandbox,
            started_at=time.monotonic(),
        )

    async def start(self) -> None:
        if not self.access.admin.configured:
            log.warning(
                "admin_key_not_set",
                message="Management endpoints answer loopback clients only. " + HOW_TO_SET,
            )
        self.usage.start()
        await self.sandbox.warm()

    async def stop(self) -> None:
        await self.usage.stop()
        await self.sandbox.aclose()
        await self.http.aclose()
        await self.database.close()
