"""Deploy: a workflow document becomes a live deployment with version 1, a slug and an API key."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import structlog

from clara_runner.clock import utcnow
from clara_runner.contract.schema import Contract, ContractOptions, build_contract
from clara_runner.errors import InvalidWorkflow, SlugTaken, ValidationFailed
from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.limits import WorkflowLimits, workflow_limit_problems
from clara_runner.flow.nodes.registry import NodeRegistry
from clara_runner.flow.plan import Plan, compile_flow
from clara_runner.service.deployments.fields import DESCRIPTION_LENGTH, NAME_LENGTH, USER_ID_LENGTH, text_field
from clara_runner.service.deployments.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN, first_free, slugify
from clara_runner.service.deployments.traffic import TrafficOptions, apply_traffic_options, parse_traffic_options
from clara_runner.service.keys.issue import issue_key
from clara_runner.store import deployments as deployment_queries
from clara_runner.store.database import ConstraintViolation, Database
from clara_runner.store.records import DeploymentRecord

log = structlog.get_logger(__name__)

_SLUG_ATTEMPTS = 20


@dataclass(frozen=True, slots=True)
class DeployRequest:
    name: str
    slug: str | None
    description: str | None
    user_id: str | None
    workflow: Any
    traffic: TrafficOptions = field(default_factory=TrafficOptions)
    options: ContractOptions = field(default_factory=ContractOptions)


@dataclass(frozen=True, slots=True)
class Deployed:
    deployment: DeploymentRecord
    api_key: str
    contract: Contract
    slug_warning: str | None = None
    """Set when the name's slug was taken and the deployment got a suffixed one: the caller's URL differs."""

    @property
    def warnings(self) -> tuple[str, ...]:
        return (*self.contract.warnings, *filter(None, (self.slug_warning,)))


_EXPORT_KEYS = frozenset({"nodes", "connections"})
"""Keys of a Studio export (or any flow document): a deploy body with them and no `workflow` is a flow
posted bare."""


def parse_deploy_request(body: Any) -> DeployRequest:
    """Check the deploy body's own fields; every problem is reported, in the original's wording."""
    if not isinstance(body, Mapping):
        raise ValidationFailed(["Request body must be a JSON object with name and workflow"])
    if "workflow" not in body and (_EXPORT_KEYS & body.keys() or isinstance(body.get("format"), str)):
        raise ValidationFailed(
            [
                "The body looks like a workflow export posted on its own; wrap it: "
                '{"name": "My API", "workflow": <the export>}'
            ]
        )
    problems: list[str] = []
    name = text_field(body, "name", problems, max_length=NAME_LENGTH, required=True)
    slug = body.get("slug")
    if slug is not None and slug != "":
        if not isinstance(slug, str):
            problems.append("slug must be a string")
        elif len(slug) > MAX_SLUG_LENGTH:
            problems.append(f"slug must be {MAX_SLUG_LENGTH} characters or less")
        elif not SLUG_PATTERN.match(slug):
            problems.append("slug must contain only lowercase letters, numbers, and hyphens")
    description = text_field(body, "description", problems, max_length=DESCRIPTION_LENGTH)
    user_id = text_field(
        body,
        "userId",
        problems,
        max_length=USER_ID_LENGTH,
        not_text=f"userId must be a string of {USER_ID_LENGTH} characters or less",
    )
    if body.get("workflow") is None:
        problems.append("workflow is required")
    traffic = parse_traffic_options(body, problems)
    options = ContractOptions.parse(body, problems)
    if problems:
        raise ValidationFailed(problems)
    assert name is not None
    return DeployRequest(
        name=name.strip(),
        slug=slug or None,
        description=description,
        user_id=user_id,
        workflow=body["workflow"],
        traffic=traffic,
        options=options,
    )


def derive_contract(
    workflow: Any, registry: NodeRegistry, limits: WorkflowLimits, options: ContractOptions | None = None
) -> Contract:
    """Check the workflow statically (size limits first, then the graph) and derive its API; raise
    `InvalidWorkflow` listing every problem. Deploy and every new version go through here."""
    problems = workflow_limit_problems(workflow, limits)
    if problems:
        raise invalid_workflow(problems)
    try:
        plan = compile_flow(parse_flow(workflow), registry)
    except FlowDefinitionError as exc:
        raise invalid_workflow(exc.problems) from exc
    contract = build_contract(plan, options)
    return replace(contract, warnings=contract.warnings + _unconnected_inputs(plan, contract))


def _unconnected_inputs(plan: Plan, contract: Contract) -> tuple[str, ...]:
    """An input node connected to nothing still becomes a field of the API (required unless it has a
    default), though its value goes nowhere: usually a forgotten connection, so deploy says so."""
    unconnected = {planned.node.id for planned in plan.nodes if not planned.targets}
    return tuple(
        f"Input field '{api_field.name}' (node '{api_field.node_id}') is connected to nothing: it is"
        f" {'a required' if api_field.required else 'an optional'} field of the API whose value no node uses;"
        " connect the node or delete it"
        for api_field in contract.inputs
        if api_field.node_id in unconnected
    )


def invalid_workflow(problems: list[str]) -> InvalidWorkflow:
    """Every problem in `validationErrors`; the message names the first and counts the others."""
    more = f" (and {len(problems) - 1} more)" if len(problems) > 1 else ""
    return InvalidWorkflow(problems, message=f"The workflow cannot be deployed: {problems[0]}{more}")


async def deploy(
    database: Database, registry: NodeRegistry, secret: bytes, limits: WorkflowLimits, request: DeployRequest
) -> Deployed:
    contract = derive_contract(request.workflow, registry, limits, request.options)
    base = request.slug or slugify(request.name)
    for _ in range(_SLUG_ATTEMPTS):
        deployment_id = uuid.uuid4()
        now = utcnow()
        try:
            async with database.write() as conn:
                taken = await deployment_queries.live_slugs_like(conn, base)
                if request.slug is not None and request.slug in taken:
                    raise SlugTaken(
                        f"The slug '{request.slug}' is already taken. Please choose a different name or slug."
                    )
                slug = first_free(base, taken)
                await deployment_queries.insert_deployment(
                    conn,
                    deployment_id=deployment_id,
                    slug=slug,
                    name=request.name,
                    description=request.description,
                    user_id=request.user_id,
                    workflow=request.workflow,
                    contract=contract.to_document(),
                    now=now,
                )
                api_key = await issue_key(conn, secret, deployment_id, now)
                await apply_traffic_options(conn, deployment_id, request.traffic)
                record = await deployment_queries.find_live(conn, deployment_id=deployment_id)
        except ConstraintViolation:
            log.info("deploy_slug_race", slug=base)
            continue
        assert record is not None
        log.info("deployed", deployment_id=str(deployment_id), slug=record.slug)
        slug_warning = None
        if record.slug != base:
            slug_warning = (
                f"The slug '{base}' is already taken, so this deployment got '{record.slug}': its endpoint is"
                f" /api/workflows/{record.slug}/execute and this key works only there; to update '{base}'"
                f" instead, deploy a new version of it (PUT /api/workflows/{base})"
            )
        return Deployed(record, api_key, contract, slug_warning)
    raise SlugTaken(f"Could not find a free slug for '{base}' after {_SLUG_ATTEMPTS} attempts; pass an explicit slug")
