"""Versions of a deployment: deploy a new one (PUT), list them, roll back to an earlier one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_slug, client_host, links, services
from clara_runner.service.execute import parse_payload
from clara_runner.service.pages import PageRequest

router = APIRouter(tags=["Versions"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed body, or a workflow that fails the deploy checks (all problems listed)"},
    401: {"description": "No admin key (or loopback client) and no API key of this deployment"},
    403: {"description": "An API key of another deployment"},
    404: {"description": "No live workflow has this slug, or the version does not exist"},
    413: {"description": "The request body is larger than MAX_INPUT_SIZE"},
}

_PUT_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["workflow"],
                    "properties": {
                        "workflow": {"type": "object", "description": "The new workflow, in any format deploy accepts"},
                        "name": {"type": "string", "minLength": 1, "maxLength": 255},
                        "description": {"type": "string", "maxLength": 5000},
                        "slug": {"type": "string", "description": "Optional; must be the deployment's own slug"},
                    },
                }
            }
        },
    }
}

_ROLLBACK_BODY = {
    "requestBody": {
        "required": False,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {
                        "version": {
                            "type": "integer",
                            "minimum": 1,
                            "description": "The version to make current; omitted: the one before the current one",
                        }
                    },
                    "additionalProperties": False,
                }
            }
        },
    }
}


@router.put(
    "/api/workflows/{slug}",
    summary="Deploy a new version under the same slug and API keys",
    openapi_extra=_PUT_BODY,
    responses=_ERRORS,
)
async def put_version(request: Request, slug: str) -> dict[str, Any]:
    state = services(request)
    record = await state.versions.authorize(
        checked_slug(slug), request.headers.get("authorization"), client_host(request), "deploy a new version of"
    )
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    result = await state.versions.deploy_version(record, body)
    return presenters.version_deployed(result, links(request))


@router.get("/api/workflows/{slug}/versions", summary="List the workflow's versions", responses=_ERRORS)
async def list_versions(
    request: Request, slug: str, limit: str | None = None, offset: str | None = None
) -> dict[str, Any]:
    state = services(request)
    record = await state.versions.authorize(
        checked_slug(slug), request.headers.get("authorization"), client_host(request), "list the versions of"
    )
    page = await state.versions.list_versions(record, PageRequest.parse(limit, offset, default_limit=50))
    return {
        "success": True,
        "currentVersion": record.current_version,
        "versions": [presenters.version_entry(item, record.current_version) for item in page.items],
        "pagination": presenters.pagination(page),
    }


@router.post(
    "/api/workflows/{slug}/rollback",
    summary="Make an earlier version current",
    openapi_extra=_ROLLBACK_BODY,
    responses={**_ERRORS, 409: {"description": "No version was named and the current one is the first"}},
)
async def rollback(request: Request, slug: str) -> dict[str, Any]:
    state = services(request)
    record = await state.versions.authorize(
        checked_slug(slug), request.headers.get("authorization"), client_host(request), "roll back"
    )
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    return presenters.rolled_back(await state.versions.rollback(record, body))
