"""Versions of a deployment: deploy a new one (PUT), list them, roll back to an earlier one."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from clara_runner.contract.payload import parse_payload
from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import caller, checked_slug, links, runtime
from clara_runner.server.schemas import (
    KEY_OR_ADMIN,
    NewVersionResponse,
    PageLimit,
    PageOffset,
    RollbackResponse,
    SlugPath,
    VersionList,
    errors,
    ok,
)
from clara_runner.service.deployments.traffic import SCHEMA as TRAFFIC_OPTIONS_SCHEMA
from clara_runner.service.pages import PageRequest

router = APIRouter(tags=["Versions"])

_PUT_BODY = {
    **KEY_OR_ADMIN,
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
                        "allowUnknownFields": {
                            "type": "boolean",
                            "default": False,
                            "description": "For this version: accept and ignore execute fields the workflow "
                            "does not declare",
                        },
                        **TRAFFIC_OPTIONS_SCHEMA,
                    },
                }
            }
        },
    },
}

_ROLLBACK_BODY = {
    **KEY_OR_ADMIN,
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
    },
}


@router.put(
    "/api/workflows/{slug}",
    summary="Deploy a new version under the same slug and API keys",
    description="Checks the workflow as deploy does, stores it as the next immutable version and makes it "
    "current; the slug, the endpoint and the API keys stay the same.",
    openapi_extra=_PUT_BODY,
    response_model=None,
    responses={
        **ok(NewVersionResponse, "The new version is stored and current"),
        **errors(400, 401, 403, 404, 413, 503),
    },
)
async def put_version(request: Request, slug: SlugPath) -> dict[str, Any]:
    state = runtime(request)
    who = await caller(request)
    record = await state.access.deployment(who, "deploy a new version of", slug=checked_slug(slug))
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    result = await state.versions.deploy_version(who, record, body)
    return presenters.version_deployed(result, links(request))


@router.get(
    "/api/workflows/{slug}/versions",
    summary="List the workflow's versions",
    description="Every version of the deployment, newest first, with which one is current.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(VersionList, "Versions, newest first"), **errors(400, 401, 403, 404, 503)},
)
async def list_versions(
    request: Request,
    slug: SlugPath,
    limit: PageLimit = None,
    offset: PageOffset = None,
) -> dict[str, Any]:
    state = runtime(request)
    record = await state.access.deployment(await caller(request), "list the versions of", slug=checked_slug(slug))
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
    description="Moves the deployment's current version to an existing version; no version is created, and "
    "naming the current one changes nothing.",
    openapi_extra=_ROLLBACK_BODY,
    response_model=None,
    responses={
        **ok(RollbackResponse, "The named version is current"),
        **errors(400, 401, 403, 404, 409, 413, 503),
    },
)
async def rollback(request: Request, slug: SlugPath) -> dict[str, Any]:
    state = runtime(request)
    record = await state.access.deployment(await caller(request), "roll back", slug=checked_slug(slug))
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    return presenters.rolled_back(await state.versions.rollback(record, body))
