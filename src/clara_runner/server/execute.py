"""`POST /api/workflows/{slug}/execute`, the hot path: served past FastAPI (`fast_lane.py`), and
documented in the management API's OpenAPI document (`openapi.py`) from `EXECUTE_DOCUMENTATION`."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import Response

from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_slug, runtime
from clara_runner.server.replies import render_execution, reply_response, success_response
from clara_runner.server.schemas import DEPLOYMENT_KEY, ExecutionResult, errors, ok
from clara_runner.service.deployments.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN
from clara_runner.service.deployments.versions import VERSION_HEADER

PATH = "/api/workflows/{slug}/execute"


async def execute(request: Request) -> Response:
    state = runtime(request)
    limit = state.settings.max_input_size

    async def read_body() -> bytes:
        return await read_limited(request, limit)

    async def until_disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    headers = request.headers
    call = (
        checked_slug(request.path_params["slug"]),
        headers.get("authorization"),
        read_body,
        headers.get("content-type"),
        headers.get(VERSION_HEADER),
        until_disconnected,
    )
    idempotency_key = headers.get("idempotency-key")
    if idempotency_key is not None:
        reply = await state.idempotent.execute(*call, key=idempotency_key, render=render_execution)
        return reply_response(reply)
    return success_response(await state.executions.execute(*call))


EXECUTE_DOCUMENTATION: dict[str, Any] = {
    "summary": "Execute the workflow (API key required)",
    "tags": ["Workflows"],
    "response_model": None,
    "openapi_extra": {
        **DEPLOYMENT_KEY,
        "parameters": [
            {
                "name": "slug",
                "in": "path",
                "required": True,
                "description": "The deployment's slug",
                "schema": {"type": "string", "pattern": SLUG_PATTERN.pattern, "maxLength": MAX_SLUG_LENGTH},
            }
        ],
        "description": "Runs the workflow with the body's inputs. The workflow's own document "
        "(GET /api/workflows/{slug}/schema) describes its exact input and output fields.",
        "requestBody": {
            "required": False,
            "description": "An empty body counts as `{}`",
            "content": {"application/json": {"schema": {"type": "object", "description": "One field per input"}}},
        },
    },
    "responses": {
        **ok(ExecutionResult, "The workflow ran"),
        **errors(400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504),
    },
}
"""How the management document describes this route (FastAPI never routes it, so it cannot read it off)."""
