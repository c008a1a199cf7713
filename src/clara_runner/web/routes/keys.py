"""A deployment's API keys: list them with their state, create a named one (shown once), revoke one,
or regenerate (every key replaced by one new key, the old ones kept working for a chosen overlap)."""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Annotated, Any

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from clara_runner.clock import iso, utcnow
from clara_runner.errors import ValidationFailed
from clara_runner.server.deps import checked_id, checked_slug, links, runtime
from clara_runner.service.keys.manage import key_status, parse_overlap
from clara_runner.service.pages import PageRequest
from clara_runner.store.records import DeploymentRecord
from clara_runner.web.route import PageRoute, is_htmx
from clara_runner.web.templating import PAGE_HEADERS, render

router = APIRouter(route_class=PageRoute)
OVERLAPS = ((0, "no overlap: the old keys stop now"), (3600, "1 hour"), (86400, "1 day"), (604800, "7 days"))
"""The overlaps the regenerate form offers (`overlapSeconds`)."""


@router.get("/manage/deployments/{slug}/keys", include_in_schema=False)
async def keys(request: Request, slug: str, offset: str | None = None) -> Response:
    state = runtime(request)
    record = await state.deployments.get(checked_slug(slug))
    page = await state.keys.list(record, PageRequest.parse("50", offset, 50))
    now = utcnow()
    return render(
        request,
        "keys.html",
        record=record,
        page=page,
        statuses={key.id: key_status(key, now) for key in page.items},
        overlaps=OVERLAPS,
        section="keys",
        links=links(request),
    )


@router.post("/manage/deployments/{slug}/keys", include_in_schema=False)
async def create(
    request: Request, slug: str, name: Annotated[str, Form()] = "", expires: Annotated[str, Form()] = ""
) -> Response:
    """A named key; `expires` is a date (the key stops at the start of that day, UTC), or empty."""
    state = runtime(request)
    record = await state.deployments.get(checked_slug(slug))
    body: dict[str, Any] = {"name": name}
    if expires:
        body["expiresAt"] = _start_of(expires)
    created = await state.keys.create(record, body)
    return _shown_once(request, record, created.plaintext, created.listing.name)


@router.post("/manage/deployments/{slug}/keys/{key_id}/revoke", include_in_schema=False)
async def revoke(request: Request, slug: str, key_id: str) -> Response:
    state = runtime(request)
    record = await state.deployments.get(checked_slug(slug))
    await state.keys.revoke(record, checked_id(key_id))
    return RedirectResponse(f"/manage/deployments/{record.slug}/keys", status_code=303, headers=PAGE_HEADERS)


@router.post("/manage/deployments/{slug}/regenerate-key", include_in_schema=False)
async def regenerate(request: Request, slug: str, overlap: Annotated[int, Form()] = 0) -> Response:
    state = runtime(request)
    record = await state.deployments.get(checked_slug(slug))
    _, api_key, until = await state.deployments.regenerate_key(record.id, parse_overlap({"overlapSeconds": overlap}))
    name = "default" if until is None else f"default (the old keys work until {iso(until)})"
    return _shown_once(request, record, api_key, name)


def _shown_once(request: Request, record: DeploymentRecord, api_key: str, name: str) -> Response:
    """The new key, in the keys page's result area (htmx) or on a page of its own."""
    template = "_new_key.html" if is_htmx(request) else "new_key.html"
    return render(request, template, record=record, api_key=api_key, name=name, section="keys", links=links(request))


def _start_of(day: str) -> str:
    try:
        parsed = date.fromisoformat(day)
    except ValueError as exc:
        raise ValidationFailed(["The expiry must be a date such as 2030-01-31"]) from exc
    return datetime.combine(parsed, time.min, UTC).isoformat()
