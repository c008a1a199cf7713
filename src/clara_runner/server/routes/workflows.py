"""Per-workflow endpoints: details, execute, execution history (documentation is in `docs.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from clara_runner.clock import iso
from clara_runner.server import docs, presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_slug, client_host, links, services
from clara_runner.server.replies import render_execution, reply_response, success_response
from clara_runner.server.schemas import (
    DEPLOYMENT_KEY,
    KEY_OR_ADMIN,
    PUBLIC,
    ExecutionHistory,
    ExecutionResult,
    SlugPath,
    WorkflowDetailsResponse,
    errors,
    ok,
)
from clara_runner.service.execute import EXECUTION_STATUSES
from clara_runner.service.pages import PageRequest
from clara_runner.service.versions_admin import VERSION_HEADER

router = APIRouter(tags=["Workflows"])


_EXECUTE_BODY = {
    **DEPLOYMENT_KEY,
    "description": "Runs the workflow with the body's inputs. The workflow's own document "
    "(GET /api/workflows/{slug}/schema) describes its exact input and output fields.",
    "requestBody": {
        "required": False,
        "description": "An empty body counts as `{}`",
        "content": {"application/json": {"schema": {"type": "object", "description": "One field per input"}}},
    },
}


@router.get(
    "/api/workflows/{slug}",
    summary="Workflow details, schemas and code snippets",
    openapi_extra=PUBLIC,
    response_model=None,
    responses={**ok(WorkflowDetailsResponse, "The deployment and its current contract"), **errors(400, 404, 500, 503)},
)
async def details(request: Request, slug: SlugPath) -> dict[str, Any]:
    state = services(request)
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


@router.post(
    "/api/workflows/{slug}/execute",
    summary="Execute the workflow (API key required)",
    openapi_extra=_EXECUTE_BODY,
    response_model=None,
    responses={
        **ok(ExecutionResult, "The workflow ran"),
        **errors(400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504),
    },
)
async def execute(request: Request, slug: SlugPath) -> Response:
    state = services(request)
    limit = state.settings.max_input_size

    async def read_body() -> bytes:
        return await read_limited(request, limit)

    call = (
        checked_slug(slug),
        request.headers.get("authorization"),
        read_body,
        request.headers.get("content-type"),
        request.headers.get(VERSION_HEADER),
    )
    idempotency_key = request.headers.get("idempotency-key")
    if idempotency_key is not None:
        return reply_response(await state.idempotent.execute(*call, idempotency_key, render_execution))
    return success_response(await state.executions.execute(*call))


@router.get(
    "/api/workflows/{slug}/executions",
    summary="Execution history (the deployment's API key, or the admin)",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(ExecutionHistory, "Executions, newest first"), **errors(400, 401, 404, 503)},
)
async def executions(
    request: Request,
    slug: SlugPath,
    limit: Annotated[str | None, Query(description="Page size, an integer from 1 to 1000 (default 50)")] = None,
    offset: Annotated[str | None, Query(description="Items to skip, an integer from 0 (default 0)")] = None,
    status: Annotated[
        str | None, Query(description="Only executions with this status: " + ", ".join(EXECUTION_STATUSES))
    ] = None,
) -> dict[str, Any]:
    state = services(request)
    page_request = PageRequest.parse(limit, offset, default_limit=50)
    _, page = await state.executions.history(
        checked_slug(slug), request.headers.get("authorization"), client_host(request), page_request, status
    )
    return {
        "success": True,
        "executions": [presenters.execution_entry(record) for record in page.items],
        "pagination": presenters.pagination(page),
    }
