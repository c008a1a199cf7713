"""`GET /metrics`: the Prometheus exposition, for the admin (or served on a port of its own instead,
`METRICS_PORT`, and then not here)."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import Response

from clara_runner.server.deps import client_host, runtime
from clara_runner.telemetry.exposition import scrape

router = APIRouter()


@router.get("/metrics", include_in_schema=False)
async def metrics(request: Request) -> Response:
    runtime(request).access.require_admin(request.headers.get("authorization"), client_host(request))
    body, content_type = scrape()
    return Response(body, media_type=content_type)
