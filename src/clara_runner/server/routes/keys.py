"""A deployment's named API keys, for the admin: create, list, revoke (`service/keys/manage.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Request
from fastapi.responses import JSONResponse

from clara_runner.clock import utcnow
from clara_runner.contract.payload import parse_payload
from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_id, checked_slug, client_host, runtime
from clara_runner.server.schemas import (
    ADMIN,
    ApiKeyList,
    ApiKeyRevoked,
    NewApiKeyResponse,
    PageLimit,
    PageOffset,
    SlugPath,
    errors,
    ok,
)
from clara_runner.service.access import Caller
from clara_runner.service.keys.manage import NAME_LENGTH
from clara_runner.service.pages import PageRequest
from clara_runner.store.records import DeploymentRecord

router = APIRouter(tags=["Keys"])

_CREATE_BODY = {
    **ADMIN,
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name"],
                    "properties": {
                        "name": {"type": "string", "minLength": 1, "maxLength": NAME_LENGTH},
                        "expiresAt": {
                            "type": ["string", "null"],
                            "format": "date-time",
                            "description": "When the key stops working (in the future, with a zone); omitted: never",
                        },
                    },
                    "additionalProperties": False,
                }
            }
        },
    },
}

KeyIdPath = Annotated[str, Path(alias="keyId", description="The key's id (`id` in the list)")]


async def _deployment(request: Request, slug: str, action: str) -> DeploymentRecord:
    """The live deployment, for the admin only: a deployment's own key may not manage keys."""
    state = runtime(request)
    state.access.require_admin(request.headers.get("authorization"), client_host(request))
    return await state.access.deployment(Caller(None), action, slug=checked_slug(slug))


@router.post(
    "/api/workflows/{slug}/keys",
    status_code=201,
    summary="Create a named API key (admin)",
    description="A new key for the deployment, with its own rate-limit count; the key is in the body, once.",
    openapi_extra=_CREATE_BODY,
    response_model=None,
    responses={
        **ok(NewApiKeyResponse, "Created: the API key is in the body, once", 201),
        **errors(400, 401, 404, 413, 503),
    },
)
async def create_key(request: Request, slug: SlugPath) -> JSONResponse:
    state = runtime(request)
    record = await _deployment(request, slug, "create keys for")
    body = parse_payload(await read_limited(request, state.settings.max_input_size), "application/json")
    issued = await state.keys.create(record, body)
    return JSONResponse(presenters.new_api_key(issued), status_code=201)


@router.get(
    "/api/workflows/{slug}/keys",
    summary="List the deployment's API keys (admin)",
    description="Every key of the deployment, newest first, revoked and expired ones included: name, prefix, "
    "status, created, last used, expires, revoked. Never the key itself.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={**ok(ApiKeyList, "Keys, newest first"), **errors(400, 401, 404, 503)},
)
async def list_keys(
    request: Request, slug: SlugPath, limit: PageLimit = None, offset: PageOffset = None
) -> dict[str, Any]:
    state = runtime(request)
    record = await _deployment(request, slug, "list the keys of")
    page = await state.keys.list(record, PageRequest.parse(limit, offset, default_limit=50))
    now = utcnow()
    return {
        "success": True,
        "keys": [presenters.api_key(key, now) for key in page.items],
        "pagination": presenters.pagination(page),
    }


@router.delete(
    "/api/workflows/{slug}/keys/{keyId}",
    summary="Revoke an API key (admin)",
    description="The key stops working at once on this server process, and within KEY_CACHE_SECONDS on the "
    "others; requests with it are refused with `api_key_revoked`. Revoking a revoked key changes nothing.",
    openapi_extra=ADMIN,
    response_model=None,
    responses={**ok(ApiKeyRevoked, "The key as now stored"), **errors(400, 401, 404, 503)},
)
async def revoke_key(request: Request, slug: SlugPath, key_id: KeyIdPath) -> dict[str, Any]:
    state = runtime(request)
    record = await _deployment(request, slug, "revoke keys of")
    key = await state.keys.revoke(record, checked_id(key_id, "keyId must be a UUID: the id GET .../keys lists"))
    return {"success": True, "message": "API key revoked", "key": presenters.api_key(key, utcnow())}
