"""The Manager's home: every deployment (search, state filter, cursor pages) and the server's health."""

from __future__ import annotations

import json

from fastapi import APIRouter, Request
from starlette.responses import RedirectResponse, Response

from clara_runner.server.deps import links, runtime
from clara_runner.server.routes.system import health as health_check
from clara_runner.service.deployments.browse import ListingRequest
from clara_runner.web.route import PageRoute, is_htmx
from clara_runner.web.templating import PAGE_HEADERS, render

router = APIRouter(route_class=PageRoute)
HOME = "/manage"


async def home() -> Response:
    """`/`: the Manager (the management API's docs stay at /api/docs)."""
    return RedirectResponse(HOME, status_code=307, headers=PAGE_HEADERS)


@router.get(HOME, include_in_schema=False)
async def deployments(
    request: Request,
    q: str | None = None,
    state: str | None = None,
    after: str | None = None,
    before: str | None = None,
) -> Response:
    listing_request = ListingRequest.parse(state, q, after, before)
    services = runtime(request)
    listing = await services.deployments.browse(listing_request)
    summaries = await services.stats.summaries([item.deployment for item in listing.items])
    template = (
        "_deployments.html" if is_htmx(request) and request.headers.get("hx-target") == "listing" else ("manager.html")
    )
    return render(request, template, listing=listing, summaries=summaries, query=listing_request, links=links(request))


@router.get("/manage/health", include_in_schema=False)
async def health(request: Request) -> Response:
    """The server's health as `/health` judges it (database, Redis when configured, draining)."""
    answer = await health_check(request)
    return render(request, "_health.html", health=json.loads(bytes(answer.body)), healthy=answer.status_code == 200)
