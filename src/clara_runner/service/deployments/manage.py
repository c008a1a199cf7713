"""Use cases on deployments: deploy, list, look up, delete, regenerate a key."""

from __future__ import annotations

import uuid
from datetime import datetime, timedelta
from typing import Any

from clara_runner.clock import utcnow
from clara_runner.errors import WorkflowNotFound
from clara_runner.flow.limits import WorkflowLimits
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.service.deployments.browse import Listing, ListingRequest, list_deployments
from clara_runner.service.deployments.deploy import Deployed, deploy, parse_deploy_request
from clara_runner.service.deployments.loaded import LoadedVersion, VersionCache
from clara_runner.service.deployments.preview import DeployPreview, preview_deploy
from clara_runner.service.keys.authenticate import KeyAuthenticator
from clara_runner.service.keys.issue import issue_key
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.service.pages import Page, PageRequest
from clara_runner.store import deployments as deployment_queries
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord


class DeploymentService:
    def __init__(
        self,
        database: Database,
        registry: NodeRegistry,
        secret: ServerSecret,
        keys: KeyAuthenticator,
        versions: VersionCache,
        limits: WorkflowLimits | None = None,
    ) -> None:
        self._database = database
        self._registry = registry
        self._secret = secret
        self._keys = keys
        self._versions = versions
        self._limits = limits or WorkflowLimits()

    async def deploy(self, body: Any) -> Deployed:
        request = parse_deploy_request(body)
        return await deploy(self._database, self._registry, await self._secret.load(), self._limits, request)

    async def preview(self, body: Any, version_of: str | None = None) -> DeployPreview:
        """What `deploy(body)` (or a new version of the deployment `version_of`) would do; writes nothing."""
        return await preview_deploy(self._database, self._registry, self._limits, body, version_of=version_of)

    async def list(self, user_id: str | None, page: PageRequest) -> Page[DeploymentRecord]:
        async with self._database.read() as conn:
            rows = await deployment_queries.list_live(conn, user_id=user_id, limit=page.limit + 1, offset=page.offset)
        return Page.from_overfetch(rows, page)

    async def browse(self, request: ListingRequest) -> Listing:
        """The Deployment Manager's list: live and deleted deployments, searched, a page at a time."""
        return await list_deployments(self._database, request)

    async def get(self, slug: str) -> DeploymentRecord:
        async with self._database.read() as conn:
            record = await deployment_queries.find_live(conn, slug=slug)
        if record is None:
            raise WorkflowNotFound()
        return record

    async def get_by_id(self, deployment_id: uuid.UUID) -> DeploymentRecord:
        async with self._database.read() as conn:
            record = await deployment_queries.find_live(conn, deployment_id=deployment_id)
        if record is None:
            raise WorkflowNotFound()
        return record

    async def current_version(self, record: DeploymentRecord) -> LoadedVersion:
        return await self._versions.get(record.id, record.current_version)

    async def delete(self, deployment_id: uuid.UUID) -> DeploymentRecord:
        async with self._database.write() as conn:
            record = await deployment_queries.find_live(conn, deployment_id=deployment_id)
            if record is None or not await deployment_queries.soft_delete(conn, deployment_id, utcnow()):
                raise WorkflowNotFound()
        self._keys.forget(deployment_id)
        return record

    async def regenerate_key(
        self, deployment_id: uuid.UUID, overlap: timedelta = timedelta()
    ) -> tuple[DeploymentRecord, str, datetime | None]:
        """Revoke every key of the deployment, after `overlap` (at once by default), and issue a new one,
        returned once with the end of the overlap (None: none). The new key draws on the rate-limit count
        of the key it replaces: regenerating a key is no way to a fresh quota."""
        now = utcnow()
        until = now + overlap if overlap else None
        secret = await self._secret.load()
        async with self._database.write() as conn:
            record = await deployment_queries.find_live(conn, deployment_id=deployment_id)
            if record is None:
                raise WorkflowNotFound()
            quota_id = await key_queries.revoke_all(conn, deployment_id, now, until)
            api_key = await issue_key(conn, secret, deployment_id, now, quota_id)
        self._keys.forget(deployment_id)
        return record, api_key, until
