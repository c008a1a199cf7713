"""Versions of a deployment: deploy a new one under the same slug and keys, list them, roll back.

Versions are immutable and numbered 1, 2, 3... per deployment. A deployment's `current_version` is a
pointer: a new version (PUT) takes the next free number and becomes current; a rollback moves the
pointer to an existing version and creates nothing. So deploy, PUT, rollback leaves versions 1 and
2 with 1 current, and the next PUT makes version 3.

Who may do it: the admin (the admin key, or a loopback client while no admin key is set) or the
holder of the deployment's own API key, exactly as for delete and regenerate-key. Listing versions
is allowed to the same callers.

The execute path reads `current_version` from the key cache (`KEY_CACHE_SECONDS`). A change made
here drops that cache in this process at once; other processes and replicas follow when their
cached entry expires, within `KEY_CACHE_SECONDS`.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import structlog

from clara_runner.clock import utcnow
from clara_runner.contract.schema import Contract, ContractOptions
from clara_runner.errors import AccessDenied, ClaraError, InvalidRequest, ValidationFailed, WorkflowNotFound
from clara_runner.flow.limits import WorkflowLimits
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.service.access import Caller
from clara_runner.service.deployments.deploy import derive_contract
from clara_runner.service.deployments.fields import DESCRIPTION_LENGTH, NAME_LENGTH, text_field
from clara_runner.service.deployments.loaded import VersionNotFound
from clara_runner.service.deployments.traffic import TrafficOptions, apply_traffic_options, parse_traffic_options
from clara_runner.service.keys.authenticate import KeyAuthenticator
from clara_runner.service.pages import Page, PageRequest
from clara_runner.store import deployments as deployment_queries
from clara_runner.store import versions as version_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord, VersionSummaryRecord

log = structlog.get_logger(__name__)

VERSION_HEADER = "X-Workflow-Version"
MAX_VERSION = 2**31 - 1
"""Versions are stored as 32-bit integers."""
_VERSION_NUMBER = re.compile(r"^[1-9][0-9]{0,8}$")


class InvalidVersionHeader(InvalidRequest):
    """X-Workflow-Version must be a version number (1, 2, ...); omit it to run the current version."""

    code = "invalid_workflow_version"
    error = "Invalid workflow version"


class NoEarlierVersion(ClaraError):
    """The current version is the first one; there is nothing earlier to roll back to."""

    code = "no_earlier_version"
    status = 409
    error = "No earlier version"


def pinned_version(header: str | None, current: int) -> int:
    """The version an execute request asks for with `X-Workflow-Version`, else `current`."""
    if header is None:
        return current
    value = header.strip()
    if not _VERSION_NUMBER.match(value):
        shown = value if len(value) <= 40 else value[:40] + "..."
        raise InvalidVersionHeader(
            f"{VERSION_HEADER} must be a version number such as 1 or 2, not '{shown}'; "
            "omit the header to run the current version",
            details={"header": VERSION_HEADER},
        )
    return int(value)


@dataclass(frozen=True, slots=True)
class NewVersion:
    deployment: DeploymentRecord
    """The deployment as it is after the change (its `current_version` is the new version)."""
    contract: Contract
    previous_version: int


@dataclass(frozen=True, slots=True)
class Rollback:
    deployment: DeploymentRecord
    previous_version: int


@dataclass(frozen=True, slots=True)
class VersionRequest:
    workflow: Any
    name: str | None
    description: str | None
    traffic: TrafficOptions
    options: ContractOptions


def parse_version_request(body: Any, slug: str) -> VersionRequest:
    """The PUT body: the deploy body's `workflow`, and optionally a new `name` and `description`.

    `slug` and `userId` belong to the deployment and cannot change here; sending them is allowed
    (so a deploy body can be sent again as is) only with the deployment's values.
    """
    if not isinstance(body, Mapping):
        raise ValidationFailed(["Request body must be a JSON object with a workflow"])
    problems: list[str] = []
    name = text_field(body, "name", problems, max_length=NAME_LENGTH)
    if name is not None and not name.strip():
        problems.append("name must be a non-empty string")
    description = text_field(body, "description", problems, max_length=DESCRIPTION_LENGTH)
    given_slug = body.get("slug")
    if given_slug is not None and given_slug != "" and given_slug != slug:
        problems.append(f"slug cannot be changed by a new version: it must be '{slug}' or omitted")
    if body.get("workflow") is None:
        problems.append("workflow is required")
    traffic = parse_traffic_options(body, problems)
    options = ContractOptions.parse(body, problems)
    if problems:
        raise ValidationFailed(problems)
    return VersionRequest(
        workflow=body["workflow"],
        name=name.strip() if name is not None else None,
        description=description,
        traffic=traffic,
        options=options,
    )


def parse_rollback_request(body: Any) -> int | None:
    """The version to make current, or None for "the one before the current one"."""
    if body == {} or body is None:
        return None
    if not isinstance(body, Mapping) or set(body) - {"version"}:
        raise ValidationFailed(['Request body must be {"version": N} or empty (to go back one version)'])
    version = body.get("version")
    if version is None:
        return None
    if isinstance(version, bool) or not isinstance(version, int) or not 1 <= version <= MAX_VERSION:
        raise ValidationFailed(
            [f"version must be an integer from 1 to {MAX_VERSION} (a number listed by GET .../versions)"]
        )
    return version


class VersionAdmin:
    def __init__(
        self,
        database: Database,
        registry: NodeRegistry,
        keys: KeyAuthenticator,
        limits: WorkflowLimits,
    ) -> None:
        self._database = database
        self._registry = registry
        self._limits = limits
        self._keys = keys

    async def deploy_version(self, caller: Caller, deployment: DeploymentRecord, body: Any) -> NewVersion:
        """Check the workflow as deploy does, store it as the next version and make it current.

        Traffic options (`rateLimit`, `maxConcurrency`, `allowCallbackUrl`, `usageBudget`) are the admin's to set: a key
        holder may ship new versions of its workflow, not lift the limits the operator put on it."""
        request = parse_version_request(body, deployment.slug)
        if request.traffic.changes and not caller.is_admin:
            raise AccessDenied(
                "Only the admin may change a deployment's rateLimit, maxConcurrency, allowCallbackUrl, usageBudget "
                "or retryPolicy; send the new version without them"
            )
        contract = derive_contract(request.workflow, self._registry, self._limits, request.options)
        result = await self._insert(deployment.id, request, contract)
        self._keys.forget(deployment.id)
        log.info("version_deployed", deployment_id=str(deployment.id), version=result.deployment.current_version)
        return result

    async def _insert(self, deployment_id: uuid.UUID, request: VersionRequest, contract: Contract) -> NewVersion:
        """Next number under the deployment row's lock, so concurrent PUTs get N+1 and N+2."""
        now = utcnow()
        async with self._database.write() as conn:
            previous = await version_queries.lock_deployment(conn, deployment_id)
            if previous is None:
                raise WorkflowNotFound()
            version = await version_queries.latest_version(conn, deployment_id) + 1
            await deployment_queries.insert_version(
                conn, deployment_id, version, workflow=request.workflow, contract=contract.to_document(), now=now
            )
            await version_queries.set_current_version(
                conn, deployment_id, version, now, name=request.name, description=request.description
            )
            await apply_traffic_options(conn, deployment_id, request.traffic)
            record = await deployment_queries.find_live(conn, deployment_id=deployment_id)
        assert record is not None
        return NewVersion(record, contract, previous)

    async def rollback(self, deployment: DeploymentRecord, body: Any) -> Rollback:
        """Make an existing version current (by default the one before the current one)."""
        wanted = parse_rollback_request(body)
        async with self._database.write() as conn:
            previous = await version_queries.lock_deployment(conn, deployment.id)
            if previous is None:
                raise WorkflowNotFound()
            if wanted is None:
                if previous == 1:
                    raise NoEarlierVersion(
                        "Version 1 is current and is the first version; there is nothing earlier to roll back to"
                    )
                wanted = previous - 1
            if not await version_queries.version_exists(conn, deployment.id, wanted):
                raise VersionNotFound(
                    f"Version {wanted} of this workflow does not exist; GET /api/workflows/{deployment.slug}/versions "
                    "lists them",
                    details={"version": wanted},
                )
            await version_queries.set_current_version(conn, deployment.id, wanted, utcnow())
            record = await deployment_queries.find_live(conn, deployment_id=deployment.id)
        assert record is not None
        self._keys.forget(deployment.id)
        log.info("version_rolled_back", deployment_id=str(deployment.id), version=wanted, previous=previous)
        return Rollback(record, previous)

    async def list_versions(self, deployment: DeploymentRecord, page: PageRequest) -> Page[VersionSummaryRecord]:
        async with self._database.read() as conn:
            rows = await version_queries.list_versions(conn, deployment.id, limit=page.limit + 1, offset=page.offset)
        return Page.from_overfetch(rows, page)
