"""A deployment's documentation: the OpenAPI document, Swagger UI, ReDoc, and the ReDoc bundle itself."""

from __future__ import annotations

from collections.abc import Callable
from functools import cache
from pathlib import Path
from typing import Any

import fastapi_offline
from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from clara_runner.server import docs
from clara_runner.server.deps import checked_slug, runtime
from clara_runner.server.pages import CONTENT_SECURITY_POLICY, REDOC_BUNDLE, redoc_page, swagger_page
from clara_runner.server.schemas import PUBLIC, SlugPath, errors

router = APIRouter(tags=["Documentation"])

_REDOC_SOURCE = Path(fastapi_offline.__file__).parent / "static" / "redoc.standalone.js"
_REDOC_LOGO = "https://cdn.redoc.ly/redoc/logo-mini.svg"
_BLANK_IMAGE = "data:image/svg+xml,%3Csvg xmlns='http://www.w3.org/2000/svg' width='1' height='1'/%3E"


@cache
def redoc_bundle() -> bytes:
    """ReDoc with its one remote reference (the Redocly logo in the menu footer, which no option turns
    off) replaced by an inline blank image, so the page makes no request to another host."""
    source = _REDOC_SOURCE.read_text(encoding="utf-8")
    if _REDOC_LOGO not in source:
        raise RuntimeError(f"{_REDOC_SOURCE} no longer references {_REDOC_LOGO}; check it for remote requests")
    return source.replace(_REDOC_LOGO, _BLANK_IMAGE).encode()


_DOCUMENT_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An OpenAPI 3.1 document",
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["openapi", "info", "paths"],
                    "properties": {
                        "openapi": {"type": "string", "examples": ["3.1.0"]},
                        "info": {"type": "object"},
                        "paths": {"type": "object"},
                    },
                }
            }
        },
    },
    **errors(400, 404, 500, 503),
}
_DOCUMENT_ROUTE: dict[str, Any] = {
    "description": "The deployment's OpenAPI 3.1 document, built from its current version: execute and its modes, "
    "the run resources and the webhook payload, typed by the workflow's input and output schemas. No credentials.",
    "openapi_extra": PUBLIC,
    "response_model": None,
    "responses": _DOCUMENT_RESPONSES,
}
_HTML_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"description": "An HTML page", "content": {"text/html": {"schema": {"type": "string"}}}},
    **errors(400, 404, 500, 503),
}


def _html(page: str) -> HTMLResponse:
    return HTMLResponse(page, headers={"Content-Security-Policy": CONTENT_SECURITY_POLICY})


@router.get("/api/workflows/{slug}/schema", summary="The workflow's OpenAPI 3.1 document", **_DOCUMENT_ROUTE)
@router.get("/api/workflows/{slug}/openapi.json", summary="The same document under its usual name", **_DOCUMENT_ROUTE)
async def schema(request: Request, slug: SlugPath) -> dict[str, Any]:
    record = await runtime(request).deployments.get(checked_slug(slug))
    return await docs.openapi_document(request, record)


def _page_route(path: str, summary: str, description: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    return router.get(
        path,
        summary=summary,
        description=description,
        response_class=HTMLResponse,
        openapi_extra=PUBLIC,
        responses=_HTML_RESPONSES,
    )


@_page_route(
    "/api/workflows/{slug}/docs",
    "Interactive documentation (Swagger UI with try-it-out)",
    "An HTML page: the deployment's code samples, then Swagger UI on its OpenAPI document, served without a CDN.",
)
async def swagger(request: Request, slug: SlugPath) -> HTMLResponse:
    record = await runtime(request).deployments.get(checked_slug(slug))
    page = swagger_page(
        record.name,
        f"/api/workflows/{record.slug}/schema",
        await docs.snippets(request, record),
        redoc_url=f"/api/workflows/{record.slug}/redoc",
    )
    return _html(page)


@_page_route(
    "/api/workflows/{slug}/redoc",
    "Reference documentation (ReDoc)",
    "An HTML page: ReDoc on the deployment's OpenAPI document, with the code samples beside the operation.",
)
async def redoc(request: Request, slug: SlugPath) -> HTMLResponse:
    record = await runtime(request).deployments.get(checked_slug(slug))
    return _html(redoc_page(record.name, f"/api/workflows/{record.slug}/schema"))


@router.get(REDOC_BUNDLE, include_in_schema=False)
async def redoc_script() -> Response:
    return Response(redoc_bundle(), media_type="text/javascript", headers={"Cache-Control": "public, max-age=86400"})
