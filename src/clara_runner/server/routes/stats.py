"""A deployment's execution statistics over time (`service/stats/`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from pydantic import WithJsonSchema

from clara_runner.clock import utcnow
from clara_runner.server import presenters
from clara_runner.server.deps import caller, checked_slug, runtime
from clara_runner.server.schemas import KEY_OR_ADMIN, SlugPath, StatsResponse, errors, ok
from clara_runner.service.stats.window import MAX_BUCKETS, StatsWindow

router = APIRouter(tags=["Statistics"])

_TIME = WithJsonSchema({"type": "string", "format": "date-time"})


@router.get(
    "/api/workflows/{slug}/stats",
    summary="Execution statistics over time (the deployment's API key, or the admin)",
    description="Runs started in [from, to), per hour or day (UTC) and in total: runs by status, success rate, "
    "p50/p95/p99 duration of the finished runs (nearest-rank, within 1 % of the exact value), and outputs that did "
    "not match the output schema. Every bucket of the range is listed, empty ones with zeros; at most "
    f"{MAX_BUCKETS} buckets.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(StatsResponse, "The statistics of the range"), **errors(400, 401, 403, 404, 503)},
)
async def stats(
    request: Request,
    slug: SlugPath,
    start: Annotated[
        str | None,
        _TIME,
        Query(
            alias="from",
            description="Start (ISO 8601 with a zone, or a date); default: `to` minus 24 h (hour) or 30 days (day)",
        ),
    ] = None,
    end: Annotated[str | None, _TIME, Query(alias="to", description="End, excluded; default: now")] = None,
    bucket: Annotated[
        str | None,
        WithJsonSchema({"type": "string", "enum": ["hour", "day"], "default": "hour"}),
        Query(description="Bucket size"),
    ] = None,
) -> dict[str, Any]:
    state = runtime(request)
    window = StatsWindow.parse(start, end, bucket, utcnow())
    record = await state.access.deployment(await caller(request), "read the statistics of", slug=checked_slug(slug))
    return presenters.deployment_stats(record, await state.stats.for_deployment(record, window))
