"""Deploy without deploying: what a deploy body would become, and everything that stands in its way.

The Deployment Manager's dialog shows this before the user commits: the slug the deployment would get
(and whether the one asked for is taken), the API the workflow would have, and every problem and
warning at once. Nothing is written. A new version of an existing deployment is previewed the same
way, its slug fixed to the deployment's.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.contract.schema import Contract, ContractOptions
from clara_runner.errors import ValidationFailed
from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.limits import WorkflowLimits
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.service.deployments.deploy import derive_contract, parse_deploy_request
from clara_runner.service.deployments.slugs import first_free, slugify
from clara_runner.service.deployments.versions import parse_version_request
from clara_runner.store import deployments as deployment_queries
from clara_runner.store.database import Database


@dataclass(frozen=True, slots=True)
class DeployPreview:
    name: str | None
    """The name given, or the workflow's own when none was (what the dialog pre-fills)."""
    description: str | None
    """The description given, or the workflow's own when none was."""
    slug: str | None
    """The slug the deployment would get (None while there is no name to derive it from)."""
    slug_taken: bool
    """The slug asked for (or derived from the name) belongs to a live deployment."""
    contract: Contract | None
    """The API the workflow would have; None when the workflow has problems."""
    problems: tuple[str, ...]
    """What makes deploy refuse the body; empty when it would succeed."""
    warnings: tuple[str, ...]

    @property
    def deployable(self) -> bool:
        return not self.problems


async def preview_deploy(
    database: Database, registry: NodeRegistry, limits: WorkflowLimits, body: Any, *, version_of: str | None = None
) -> DeployPreview:
    """What deploying `body` would do; with `version_of`, what deploying it as a new version of that
    live deployment would do."""
    fields: Mapping[str, Any] = _with_workflow_names(body) if isinstance(body, Mapping) else {}
    problems: list[str] = []
    try:
        if version_of is None:
            parse_deploy_request(fields or body)
        else:
            parse_version_request(fields or body, version_of)
    except ValidationFailed as exc:
        problems.extend(exc.details.get("validationErrors", [exc.message]))
    contract = _contract(fields, registry, limits, problems)
    warnings = list(contract.warnings) if contract is not None else []
    name, description = _text(fields.get("name")), _text(fields.get("description"))
    if version_of is not None:
        return DeployPreview(name, description, version_of, False, contract, tuple(problems), tuple(warnings))
    slug, taken = await _slug(database, fields, problems, warnings)
    return DeployPreview(name, description, slug, taken, contract, tuple(dict.fromkeys(problems)), tuple(warnings))


def _with_workflow_names(body: Mapping[str, Any]) -> Mapping[str, Any]:
    """The body with the workflow's own name and description where the body gives none (an export
    names its flow; the dialog pre-fills from it)."""
    missing = [key for key in ("name", "description") if not _text(body.get(key))]
    if not missing:
        return body
    try:
        flow = parse_flow(body.get("workflow"))
    except FlowDefinitionError:
        return body
    own = {"name": flow.name, "description": flow.description}
    return {**body, **{key: own[key] for key in missing if own[key]}}


def _text(value: Any) -> str | None:
    return value.strip() or None if isinstance(value, str) else None


def _contract(
    fields: Mapping[str, Any], registry: NodeRegistry, limits: WorkflowLimits, problems: list[str]
) -> Contract | None:
    workflow = fields.get("workflow")
    if workflow is None:
        return None
    options_problems: list[str] = []
    options = ContractOptions.parse(fields, options_problems)
    try:
        return derive_contract(workflow, registry, limits, options)
    except ValidationFailed as exc:
        problems.extend(exc.details.get("validationErrors", [exc.message]))
        return None


async def _slug(
    database: Database, fields: Mapping[str, Any], problems: list[str], warnings: list[str]
) -> tuple[str | None, bool]:
    asked = fields.get("slug") or None
    name = fields.get("name")
    if isinstance(asked, str):
        base = asked
    elif isinstance(name, str) and name.strip():
        base = slugify(name.strip())
    else:
        return None, False
    async with database.read() as conn:
        taken = await deployment_queries.live_slugs_like(conn, base)
    if base not in taken:
        return base, False
    if asked is not None:
        problems.append(f"The slug '{base}' is already taken. Please choose a different name or slug.")
        return base, True
    slug = first_free(base, taken)
    warnings.append(
        f"The slug '{base}' is already taken, so this deployment would get '{slug}'; to update '{base}'"
        " instead, deploy a new version of it"
    )
    return slug, True
