"""Service-level endpoints: health, information, the management API's docs."""

from __future__ import annotations

import asyncio
import time
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse

from clara_runner import __version__
from clara_runner.clock import iso_now
from clara_runner.runtime.services import Runtime
from clara_runner.server.deps import links, runtime
from clara_runner.server.pages import CONTENT_SECURITY_POLICY, redoc_page, swagger_page
from clara_runner.server.schemas import HOST_REFUSED, PUBLIC, Health, Info, ok

router = APIRouter(tags=["Service"])

_HEALTH_TIMEOUT_SECONDS = 3.0


@router.get(
    "/health",
    summary="Health check",
    openapi_extra=PUBLIC,
    response_model=None,
    responses={
        **ok(Health, "The server reaches its database"),
        **ok(Health, "The database is unreachable, or the server is shutting down", 503),
        **HOST_REFUSED,
    },
)
async def health(request: Request) -> JSONResponse:
    """200 when the server reaches every store an execute needs (the database; Redis when configured) and
    takes runs, 503 otherwise (also while it shuts down, so load balancers move on). It names no hosts and
    no settings."""
    state = runtime(request)
    try:
        await asyncio.wait_for(state.database.ping(), _HEALTH_TIMEOUT_SECONDS)
        connected = True
    except Exception:
        connected = False
    redis = await _redis_status(state) if state.settings.redis_url else None
    ready = connected and redis != "disconnected"
    draining = state.admitter.draining
    status = "shutting_down" if draining else "healthy" if ready else "unhealthy"
    body = {
        "status": status,
        "service": "Clara Agent Runner",
        "version": __version__,
        "timestamp": iso_now(),
        "uptime": f"{round(time.monotonic() - state.started_at)}s",
        "database": "connected" if connected else "disconnected",
        **({"redis": redis} if redis is not None else {}),
    }
    return JSONResponse(body, status_code=200 if ready and not draining else 503)


async def _redis_status(state: Runtime) -> str:
    """Redis counts every execute's rate limit when it is configured: it is as needed as the database."""
    try:
        reachable = await asyncio.wait_for(state.rate_limits.store_reachable(), _HEALTH_TIMEOUT_SECONDS)
    except Exception:
        reachable = False
    return "connected" if reachable else "disconnected"


@router.get(
    "/api/info",
    summary="Service information",
    description="The service's name, version, features and links to its endpoints and documentation.",
    openapi_extra=PUBLIC,
    response_model=None,
    responses={**ok(Info, "Links"), **HOST_REFUSED},
)
async def info(request: Request) -> dict[str, Any]:
    base = links(request).base_url
    return {
        "service": "Clara Agent Runner API",
        "version": __version__,
        "description": "Deploy and execute Clara workflows as REST APIs",
        "features": [
            "Workflow deployment with static checks and auto-generated schemas",
            "Per-workflow OpenAPI 3.1 documents and Swagger UI, served offline",
            "Input validation that reports every problem at once",
            "Execution history with per-node traces",
            "API keys stored only as HMACs",
        ],
        "endpoints": {
            "POST /api/deploy": "Deploy a new workflow",
            "GET /api/deployments": "List all deployed workflows",
            "GET /api/workflows/:slug": "Get workflow details",
            "GET /api/workflows/:slug/schema": "Get the workflow's OpenAPI document",
            "GET /api/workflows/:slug/docs": "Interactive API documentation (Swagger UI)",
            "GET /api/workflows/:slug/redoc": "Reference API documentation (ReDoc)",
            "POST /api/workflows/:slug/execute": "Execute workflow",
            "GET /api/workflows/:slug/executions": "Get execution history",
            "GET /api/workflows/:slug/stats": "Execution statistics per hour or day",
            "POST /api/workflows/:slug/keys": "Create a named API key (admin)",
            "GET /api/workflows/:slug/keys": "List the workflow's API keys (admin)",
            "DELETE /api/workflows/:slug/keys/:keyId": "Revoke an API key (admin)",
            "PUT /api/workflows/:slug": "Deploy a new version under the same slug and API keys",
            "GET /api/workflows/:slug/versions": "List the workflow's versions",
            "POST /api/workflows/:slug/rollback": "Make an earlier version current",
            "DELETE /api/workflows/:id": "Delete (deactivate) workflow",
            "POST /api/workflows/:id/regenerate-key": "Regenerate API key",
            "GET /health": "Health check",
            "GET /api/info": "Service information",
        },
        "documentation": f"{base}/api/docs",
        "openapi": f"{base}/api/openapi.json",
    }


@router.get("/api/docs", include_in_schema=False)
async def management_docs() -> HTMLResponse:
    return HTMLResponse(
        swagger_page("Clara Agent Runner", "/api/openapi.json"),
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )


@router.get("/api/redoc", include_in_schema=False)
async def management_redoc() -> HTMLResponse:
    return HTMLResponse(
        redoc_page("Clara Agent Runner", "/api/openapi.json"),
        headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY},
    )
