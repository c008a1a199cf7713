"""Per-workflow endpoints: details, execute, execution history (documentation is in `docs.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from clara_runner.clock import iso
from clara_runner.server import docs, presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_slug, client_host, links, services
from clara_runner.service.pages import PageRequest

router = APIRouter(tags=["Workflows"])


@router.get("/api/workflows/{slug}", summary="Workflow details and schema")
async def details(request: Request, slug: str) -> dict[str, Any]:
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


@router.post("/api/workflows/{slug}/execute", summary="Execute the workflow (API key required)")
async def execute(request: Request, slug: str) -> JSONResponse:
    state = services(request)
    limit = state.settings.max_input_size

    async def read_body() -> bytes:
        return await read_limited(request, limit)

    outcome = await state.executions.execute(
        checked_slug(slug),
        request.headers.get("authorization"),
        read_body,
        request.headers.get("content-type"),
    )
    return JSONResponse(presenters.execution_success(outcome))


@router.get("/api/workflows/{slug}/executions", summary="Execution history (API key required)")
async def executions(
    request: Request,
    slug: str,
    limit: str | None = None,
    offset: str | None = None,
    status: str | None = None,
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
