"""The test console: a form generated from the input schema; the page's script runs it through the
public execute endpoint in stream mode and shows node progress and tokens as they come."""

from __future__ import annotations

from fastapi import APIRouter, Request
from starlette.responses import Response

from clara_runner.server.deps import checked_slug, links, runtime
from clara_runner.web.console_form import controls
from clara_runner.web.route import PageRoute
from clara_runner.web.templating import render

router = APIRouter(route_class=PageRoute)


@router.get("/manage/deployments/{slug}/console", include_in_schema=False)
async def console(request: Request, slug: str) -> Response:
    state = runtime(request)
    record = await state.deployments.get(checked_slug(slug))
    loaded = await state.deployments.current_version(record)
    return render(
        request,
        "console.html",
        record=record,
        controls=controls(loaded.contract.inputs),
        outputs=loaded.contract.outputs,
        endpoint=links(request).endpoint(record.slug),
        section="console",
        links=links(request),
    )
