"""Management endpoints: deploy, list, delete, regenerate a key."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse

from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_id, client_host, links, services
from clara_runner.service.execute import parse_payload
from clara_runner.service.pages import PageRequest
from clara_runner.service.traffic_options import SCHEMA as TRAFFIC_OPTIONS_SCHEMA

router = APIRouter(tags=["Deployments"])

_DEPLOY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name", "workflow"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": 255},
                        "slug": {"type": "string", "pattern": "^[a-z0-9-]+$", "maxLength": 100},
                        "description": {"type": "string", "maxLength": 5000},
                        "userId": {"type": "string", "maxLength": 255},
                        "workflow": {
                            "type": "object",
                            "description": "An Agent Studio export (clara-sdk, clara-native or template) "
                            "or a flat {nodes, connections} document",
                        },
                        **TRAFFIC_OPTIONS_SCHEMA,
                    },
                }
            }
        },
    }
}


@router.post("/api/deploy", status_code=201, summary="Deploy a workflow", openapi_extra=_DEPLOY_BODY)
async def deploy(request: Request) -> JSONResponse:
    state = services(request)
    state.access.require_admin(request.headers.get("authorization"), client_host(request))
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    result = await state.deployments.deploy(body)
    return JSONResponse(presenters.deployed(result, links(request)), status_code=201)


@router.get("/api/deployments", summary="List live deployments")
async def list_deployments(
    request: Request, limit: str | None = None, offset: str | None = None, userId: str | None = None
) -> dict[str, Any]:
    state = services(request)
    state.access.require_admin(request.headers.get("authorization"), client_host(request))
    page = await state.deployments.list(userId, PageRequest.parse(limit, offset, default_limit=100))
    link = links(request)
    return {
        "success": True,
        "deployments": [presenters.deployment_summary(record, link) for record in page.items],
        "pagination": presenters.pagination(page),
    }


@router.delete("/api/workflows/{deployment_id}", summary="Delete (deactivate) a deployment")
async def delete(request: Request, deployment_id: str) -> dict[str, Any]:
    state = services(request)
    identifier = checked_id(deployment_id)
    await state.access.require_owner(identifier, request.headers.get("authorization"), client_host(request), "delete")
    record = await state.deployments.delete(identifier)
    return {
        "success": True,
        "message": "Workflow deleted successfully",
        "workflow": {"id": str(record.id), "slug": record.slug},
    }


@router.post("/api/workflows/{deployment_id}/regenerate-key", summary="Replace the deployment's API key")
async def regenerate_key(request: Request, deployment_id: str) -> dict[str, Any]:
    state = services(request)
    identifier = checked_id(deployment_id)
    await state.access.require_owner(
        identifier, request.headers.get("authorization"), client_host(request), "regenerate the API key for"
    )
    record, api_key = await state.deployments.regenerate_key(identifier)
    return {
        "success": True,
        "message": "API key regenerated successfully. Save it - it will not be shown again!",
        "workflow": {"id": str(record.id), "slug": record.slug, "apiKey": api_key},
    }
