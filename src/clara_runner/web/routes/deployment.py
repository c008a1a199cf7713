"""A deployment's pages: overview, versions (rollback), history, one execution, docs, undeploy."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from clara_runner.clock import utcnow
from clara_runner.contract.examples import example_object
from clara_runner.contract.snippets import SNIPPETS, code_snippets
from clara_runner.server.deps import checked_id, checked_slug, links, runtime
from clara_runner.service.execution.history import EXECUTION_STATUSES
from clara_runner.service.pages import PageRequest
from clara_runner.service.stats.window import StatsWindow
from clara_runner.store.records import DeploymentRecord
from clara_runner.web.charts import Bucket, latency_chart, runs_chart, timeline
from clara_runner.web.route import PageRoute
from clara_runner.web.templating import PAGE_HEADERS, render
from clara_runner.web.visitor import Visitor

router = APIRouter(route_class=PageRoute)
HISTORY_PAGE = 25


async def _deployment(request: Request, slug: str) -> DeploymentRecord:
    return await runtime(request).deployments.get(checked_slug(slug))


def _visitor(request: Request) -> Visitor:
    found: Visitor = request.state.visitor
    return found


@router.get("/manage/deployments/{slug}", include_in_schema=False)
async def overview(request: Request, slug: str, bucket: str | None = None) -> Response:
    """The deployment at a glance, with its statistics: the last 24 hours by the hour, or the last 30
    days by the day (`bucket=day`)."""
    state = runtime(request)
    record = await _deployment(request, slug)
    loaded = await state.deployments.current_version(record)
    visitor = _visitor(request)
    _, recent = await state.history.page(
        record.slug, visitor.authorization, visitor.client_host, PageRequest(5, 0), None
    )
    stats = await state.stats.for_deployment(record, StatsWindow.parse(None, None, bucket, utcnow()))
    daily = stats.window.bucket == "day"
    buckets = [
        Bucket(entry.start, entry.usage.by_status, entry.usage.durations.p50, entry.usage.durations.p95)
        for entry in stats.buckets
    ]
    return render(
        request,
        "overview.html",
        record=record,
        contract=loaded.contract,
        recent=recent.items,
        stats=stats,
        runs=runs_chart(buckets, daily),
        latency=latency_chart(buckets, daily),
        links=links(request),
        section="overview",
    )


@router.get("/manage/deployments/{slug}/versions", include_in_schema=False)
async def versions(request: Request, slug: str, offset: str | None = None) -> Response:
    record = await _deployment(request, slug)
    page = await runtime(request).versions.list_versions(record, PageRequest.parse("25", offset, 25))
    return render(request, "versions.html", record=record, page=page, section="versions", links=links(request))


@router.post("/manage/deployments/{slug}/rollback", include_in_schema=False)
async def rollback(request: Request, slug: str, version: Annotated[int, Form()]) -> Response:
    record = await _deployment(request, slug)
    await runtime(request).versions.rollback(record, {"version": version})
    return RedirectResponse(f"/manage/deployments/{record.slug}/versions", status_code=303, headers=PAGE_HEADERS)


@router.get("/manage/deployments/{slug}/history", include_in_schema=False)
async def history(request: Request, slug: str, status: str | None = None, offset: str | None = None) -> Response:
    visitor = _visitor(request)
    record, page = await runtime(request).history.page(
        checked_slug(slug),
        visitor.authorization,
        visitor.client_host,
        PageRequest.parse(str(HISTORY_PAGE), offset, HISTORY_PAGE),
        status or None,
    )
    return render(
        request,
        "history.html",
        record=record,
        page=page,
        status=status or "",
        statuses=EXECUTION_STATUSES,
        section="history",
        links=links(request),
    )


@router.get("/manage/executions/{execution_id}", include_in_schema=False)
async def execution(request: Request, execution_id: str) -> Response:
    state = runtime(request)
    visitor = _visitor(request)
    found = await state.run_resources.get(checked_id(execution_id), visitor.authorization, visitor.client_host)
    record = await state.deployments.get_by_id(found.deployment_id)
    template = "_execution.html" if request.headers.get("hx-request") == "true" else "execution.html"
    return render(
        request,
        template,
        record=record,
        execution=found,
        timeline=timeline(found.trace),
        section="history",
        links=links(request),
    )


@router.get("/manage/deployments/{slug}/docs", include_in_schema=False)
async def docs(request: Request, slug: str) -> Response:
    state = runtime(request)
    record = await _deployment(request, slug)
    loaded = await state.deployments.current_version(record)
    link = links(request)
    every = code_snippets(
        link.endpoint(record.slug), example_object(loaded.contract.input_schema), state.settings.max_execution_seconds
    )
    return render(
        request,
        "docs.html",
        record=record,
        contract=loaded.contract,
        snippets=[(snippet, every[snippet.key]) for snippet in SNIPPETS],
        section="docs",
        links=link,
    )


@router.get("/manage/deployments/{slug}/undeploy", include_in_schema=False)
async def undeploy_page(request: Request, slug: str) -> Response:
    record = await _deployment(request, slug)
    return render(request, "undeploy.html", record=record, section="undeploy", problem=None, links=links(request))


@router.post("/manage/deployments/{slug}/undeploy", include_in_schema=False)
async def undeploy(request: Request, slug: str, confirm: Annotated[str, Form()] = "") -> Response:
    state = runtime(request)
    record = await _deployment(request, slug)
    if confirm.strip() != record.slug:
        problem = f"Type the slug '{record.slug}' exactly to confirm; the deployment was not removed"
        return render(
            request,
            "undeploy.html",
            status_code=400,
            record=record,
            section="undeploy",
            problem=problem,
            links=links(request),
        )
    await state.deployments.delete(record.id)
    return RedirectResponse(f"/manage?state=deleted&q={record.slug}", status_code=303, headers=PAGE_HEADERS)
