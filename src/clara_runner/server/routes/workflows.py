"""Per-workflow endpoints: details, OpenAPI document, docs page, execute, execution history."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from clara_runner.clock import iso
from clara_runner.contract.openapi import workflow_openapi
from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_slug, client_host, links, services
from clara_runner.server.pages import CONTENT_SECURITY_POLICY, swagger_page
from clara_runner.server.replies import render_execution, reply_response, success_response
from clara_runner.service.pages import PageRequest
from clara_runner.service.runtime import Services
from clara_runner.service.versions_admin import VERSION_HEADER
from clara_runner.store.records import DeploymentRecord

router = APIRouter(tags=["Workflows"])


async def _openapi(state: Services, record: DeploymentRecord, request: Request) -> dict[str, Any]:
    loaded = await state.deployments.current_version(record)
    return workflow_openapi(
        contract=loaded.contract,
        name=record.name,
        slug=record.slug,
        description=record.description,
        base_url=links(request).base_url,
        version=loaded.version,
    )


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
            "schema": {**loaded.contract.public_schema(), "openapi": await _openapi(state, record, request)},
            "updatedAt": iso(record.updated_at),
        },
    }


@router.get("/api/workflows/{slug}/schema", summary="The workflow's OpenAPI 3.1 document")
async def schema(request: Request, slug: str) -> dict[str, Any]:
    state = services(request)
    record = await state.deployments.get(checked_slug(slug))
    return await _openapi(state, record, request)


@router.get("/api/workflows/{slug}/openapi.json", include_in_schema=False)
async def openapi_document(request: Request, slug: str) -> dict[str, Any]:
    return await schema(request, slug)


@router.get("/api/workflows/{slug}/docs", summary="Interactive documentation (Swagger UI)")
async def docs(request: Request, slug: str) -> HTMLResponse:
    state = services(request)
    record = await state.deployments.get(checked_slug(slug))
    return HTMLResponse(
        swagger_page(record.name, f"/api/workflows/{record.slug}/schema"),
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


@router.post("/api/workflows/{slug}/execute", summary="Execute the workflow (API key required)")
async def execute(request: Request, slug: str) -> Response:
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
