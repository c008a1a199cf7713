"""`GET /api/workflows/{slug}/usage`: tokens and cost per API key this day or month
(`service/execution/usage.py`)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from clara_runner.clock import iso
from clara_runner.server.deps import caller, checked_slug, runtime
from clara_runner.server.presenters import cost
from clara_runner.server.schemas import KEY_OR_ADMIN, SlugPath, UsagePeriod, UsageResponse, errors, ok
from clara_runner.store.usage import KeyUsage

router = APIRouter(tags=["Executions"])


@router.get(
    "/api/workflows/{slug}/usage",
    summary="Token use and cost per API key (the deployment's API key, or the admin)",
    description="For the current UTC day or calendar month: each key's executions, LLM tokens and cost (when "
    "the server has a price table), and what is left of the deployment's usage budget.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(UsageResponse, "Usage per key"), **errors(400, 401, 403, 404, 503)},
)
async def usage(request: Request, slug: SlugPath, period: UsagePeriod = None) -> dict[str, Any]:
    state = runtime(request)
    report = await state.usage.report(await caller(request), checked_slug(slug), period)
    keys = report.keys
    return {
        "success": True,
        "workflow": {"id": str(report.deployment.id), "slug": report.deployment.slug},
        "period": report.period,
        "since": iso(report.since),
        "until": iso(report.until),
        "usageBudget": report.deployment.usage_budget,
        "keys": [{**_counts([key]), **_key(key), "budgetRemaining": report.remaining(key)} for key in keys],
        "total": _counts(keys),
    }


def _key(key: KeyUsage) -> dict[str, Any]:
    return {"id": str(key.key_id), "name": key.name, "prefix": key.display_prefix, "revoked": key.revoked}


def _counts(keys: list[KeyUsage]) -> dict[str, Any]:
    prompt = sum(key.prompt_tokens for key in keys)
    completion = sum(key.completion_tokens for key in keys)
    costs = [key.cost_micros for key in keys if key.cost_micros is not None]
    return {
        "executions": sum(key.executions for key in keys),
        "promptTokens": prompt,
        "completionTokens": completion,
        "totalTokens": prompt + completion,
        "cost": cost(sum(costs)) if costs else None,
    }
