"""Management endpoints: deploy, list, delete, regenerate a key."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from clara_runner.clock import iso
from clara_runner.contract.payload import parse_payload
from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import caller, checked_id, client_host, links, runtime
from clara_runner.server.schemas import (
    ADMIN,
    KEY_OR_ADMIN,
    DeleteResponse,
    DeploymentList,
    DeploymentPageLimit,
    DeployResponse,
    PageOffset,
    RegenerateKeyResponse,
    errors,
    ok,
)
from clara_runner.service.deployments.traffic import SCHEMA as TRAFFIC_OPTIONS_SCHEMA
from clara_runner.service.keys.manage import MAX_OVERLAP_SECONDS, parse_overlap
from clara_runner.service.pages import PageRequest

router = APIRouter(tags=["Deployments"])

_DEPLOY_BODY = {
    **ADMIN,
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
                        "allowUnknownFields": {
                            "type": "boolean",
                            "default": False,
                            "description": "Accept and ignore execute fields the workflow does not declare "
                            "(by default they are rejected)",
                        },
                    },
                }
            }
        },
    },
}


_REGENERATE_BODY = {
    **KEY_OR_ADMIN,
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "overlapSeconds": {
                            "type": "integer",
                            "minimum": 0,
                            "maximum": MAX_OVERLAP_SECONDS,
                            "default": 0,
                            "description": "How long the replaced keys keep working",
                        }
                    },
                    "additionalProperties": False,
                }
            }
        },
    },
}

_ID = Annotated[
    str,
    Path(
        alias="slug",
        description="The deployment id (a UUID: `deployment.id` from deploy). The segment is named `slug` "
        "only because it shares its path with GET /api/workflows/{slug}.",
        json_schema_extra={"format": "uuid"},
    ),
]


@router.post(
    "/api/deploy",
    status_code=201,
    summary="Deploy a workflow",
    description="Checks the workflow, stores it as version 1 of a new deployment and returns its endpoint, its "
    "input and output schemas and its API key (shown once).",
    openapi_extra=_DEPLOY_BODY,
    response_model=None,
    responses={**ok(DeployResponse, "Deployed: the API key is in the body, once", 201), **errors(400, 401, 413, 503)},
)
async def deploy(request: Request) -> JSONResponse:
    state = runtime(request)
    state.access.require_admin(request.headers.get("authorization"), client_host(request))
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    result = await state.deployments.deploy(body)
    return JSONResponse(presenters.deployed(result, links(request)), status_code=201)


@router.get(
    "/api/deployments",
    summary="List live deployments",
    description="Live deployments, newest first, each with its runs over the last 24 hours (`stats`); `userId` "
    "keeps only those deployed with that userId.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={**ok(DeploymentList, "Live deployments, newest first"), **errors(400, 401, 503)},
)
async def list_deployments(
    request: Request,
    limit: DeploymentPageLimit = None,
    offset: PageOffset = None,
    userId: Annotated[str | None, Query(description="Only deployments made with this userId")] = None,
) -> dict[str, Any]:
    state = runtime(request)
    state.access.require_admin(request.headers.get("authorization"), client_host(request))
    page = await state.deployments.list(userId, PageRequest.parse(limit, offset, default_limit=100))
    summaries = await state.stats.summaries(page.items)
    link = links(request)
    return {
        "success": True,
        "deployments": [presenters.listed_deployment(record, summaries[record.id], link) for record in page.items],
        "pagination": presenters.pagination(page),
    }


@router.delete(
    "/api/workflows/{slug}",
    summary="Delete (deactivate) a deployment",
    description="Deactivates the deployment: its endpoint answers 404 and its keys stop working; its slug "
    "becomes free.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(DeleteResponse, "Deleted; its keys stop working"), **errors(400, 401, 403, 404, 503)},
)
async def delete(request: Request, deployment_id: _ID) -> dict[str, Any]:
    state = runtime(request)
    identifier = checked_id(deployment_id)
    await state.access.deployment(await caller(request), "delete", deployment_id=identifier)
    record = await state.deployments.delete(identifier)
    return {
        "success": True,
        "message": "Workflow deleted successfully",
        "workflow": {"id": str(record.id), "slug": record.slug},
    }


@router.post(
    "/api/workflows/{deployment_id}/regenerate-key",
    summary="Replace the deployment's API key",
    description="Revokes every key of the deployment and returns a new one (shown once). With "
    "`overlapSeconds`, the replaced keys keep working that long (at most a week), time to roll the new one out.",
    openapi_extra=_REGENERATE_BODY,
    response_model=None,
    responses={
        **ok(RegenerateKeyResponse, "Every old key is revoked; the new key is in the body, once"),
        **errors(400, 401, 403, 404, 503),
    },
)
async def regenerate_key(
    request: Request,
    deployment_id: Annotated[str, Path(description="The deployment id (a UUID)", json_schema_extra={"format": "uuid"})],
) -> dict[str, Any]:
    state = runtime(request)
    identifier = checked_id(deployment_id)
    await state.access.deployment(await caller(request), "regenerate the API key of", deployment_id=identifier)
    overlap = parse_overlap(
        parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    )
    record, api_key, until = await state.deployments.regenerate_key(identifier, overlap)
    return {
        "success": True,
        "message": "API key regenerated successfully. Save it - it will not be shown again!",
        "workflow": {
            "id": str(record.id),
            "slug": record.slug,
            "apiKey": api_key,
            "previousKeysValidUntil": iso(until),
        },
    }
