"""Per-workflow endpoints: details and execution history (execute is `server/execute.py`; documentation is in
`docs.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from clara_runner.clock import iso
from clara_runner.server import docs, presenters
from clara_runner.server.deps import checked_slug, client_host, links, runtime
from clara_runner.server.schemas import (
    KEY_OR_ADMIN,
    PUBLIC,
    ExecutionHistory,
    ExecutionStatusFilter,
    PageLimit,
    PageOffset,
    SlugPath,
    WorkflowDetailsResponse,
    errors,
    ok,
)
from clara_runner.service.pages import PageRequest

router = APIRouter(tags=["Workflows"])


@router.get(
    "/api/workflows/{slug}",
    summary="Workflow details, schemas and code snippets",
    description="The deployment, its current input and output JSON Schemas and OpenAPI document, and code "
    "snippets that call it; no credentials, no key in the body.",
    openapi_extra=PUBLIC,
    response_model=None,
    responses={**ok(WorkflowDetailsResponse, "The deployment and its current contract"), **errors(400, 404, 500, 503)},
)
async def details(request: Request, slug: SlugPath) -> dict[str, Any]:
    state = runtime(request)
    record = await state.deployments.get(checked_slug(slug))
    loaded = await state.deployments.current_version(record)
    link = links(request)
    return {
        "success": True,
        "workflow": {
            **presenters.deployment_summary(record, link),
            "schema": {**loaded.contract.public_schema(), "openapi": await docs.openapi_document(request, record)},
            "snippets": await docs.snippets(request, record),
            "updatedAt": iso(record.updated_at),
        },
    }


@router.get(
    "/api/workflows/{slug}/executions",
    summary="Execution history (the deployment's API key, or the admin)",
    description="The deployment's executions, newest first, each with its inputs, outputs, error and per-node "
    "trace; `status` keeps only executions with that status.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(ExecutionHistory, "Executions, newest first"), **errors(400, 401, 404, 503)},
)
async def executions(
    request: Request,
    slug: SlugPath,
    limit: PageLimit = None,
    offset: PageOffset = None,
    status: ExecutionStatusFilter = None,
) -> dict[str, Any]:
    state = runtime(request)
    page_request = PageRequest.parse(limit, offset, default_limit=50)
    _, page = await state.history.page(
        checked_slug(slug), request.headers.get("authorization"), client_host(request), page_request, status
    )
    return {
        "success": True,
        "executions": [presenters.execution_entry(record) for record in page.items],
        "pagination": presenters.pagination(page),
    }
