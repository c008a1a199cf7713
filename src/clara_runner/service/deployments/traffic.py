"""A deployment's own traffic options, given in the deploy body (and, the same object, in an update):

    "rateLimit": {"enabled": false} | {"maxRequests": 50, "windowMs": 60000} | null
    "maxConcurrency": 4 | null
    "allowCallbackUrl": true | false
    "usageBudget": {"tokens": 1000000, "period": "day" | "month"} | null
    "retryPolicy": "unstarted" | "always" | "never" | null

`rateLimit` overrides the server's `RATE_LIMIT_*` defaults field by field; the fields it leaves out
follow the server's settings, and `null` (or `{}`) removes the override. `maxConcurrency` caps how many
executions of this deployment one server process runs at once; `null` removes the cap. `allowCallbackUrl`
lets execute requests name a `callbackUrl` to be told when their run ends (a delivery the server makes
to a URL the caller chose, so the admin opts each deployment in). `usageBudget` caps the LLM tokens
(prompt and completion) each API key of the deployment may spend per UTC day or calendar month; a key
that has spent them is refused 429 `usage_budget_exhausted` until the period ends. `retryPolicy`
(queue backend) says what happens to a run whose worker died: `unstarted` (the default, also `null`) runs
it again on another worker only if it had not started an outbound call (a model or API call would be
repeated), `always` runs it again, `never` records it `interrupted`. A body that names none of the
options leaves the stored options as they are.

Use `parse_traffic_options` while checking a request body (it adds its problems to the body's list, so
the caller reports every problem at once) and `apply_traffic_options` inside the write transaction.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, TypeGuard

from clara_runner.store import deployments as deployment_queries
from clara_runner.store.database import Connection
from clara_runner.store.run_queue import RETRY_POLICIES

MAX_REQUESTS_LIMIT = 1_000_000_000
MAX_WINDOW_MS = 31 * 24 * 3600 * 1000
MAX_CONCURRENCY_LIMIT = 10_000
MAX_BUDGET_TOKENS = 10**15
BUDGET_PERIODS = ("day", "month")

SCHEMA: dict[str, Any] = {
    "rateLimit": {
        "type": ["object", "null"],
        "description": "Override of the server's rate limit for this deployment, per API key; null restores it",
        "additionalProperties": False,
        "properties": {
            "enabled": {"type": "boolean"},
            "maxRequests": {"type": "integer", "minimum": 1, "maximum": MAX_REQUESTS_LIMIT},
            "windowMs": {"type": "integer", "minimum": 1000, "maximum": MAX_WINDOW_MS, "multipleOf": 1000},
        },
    },
    "maxConcurrency": {
        "type": ["integer", "null"],
        "minimum": 1,
        "maximum": MAX_CONCURRENCY_LIMIT,
        "description": "Most executions of this deployment one server process runs at once; null for no own cap",
    },
    "allowCallbackUrl": {
        "type": "boolean",
        "description": "Execute requests may name ?callbackUrl= to be sent the run's result (default false)",
    },
    "usageBudget": {
        "type": ["object", "null"],
        "description": "LLM tokens each API key may spend per UTC day or calendar month (then 429 "
        "usage_budget_exhausted); null for no budget",
        "additionalProperties": False,
        "required": ["tokens", "period"],
        "properties": {
            "tokens": {"type": "integer", "minimum": 1, "maximum": MAX_BUDGET_TOKENS},
            "period": {"type": "string", "enum": list(BUDGET_PERIODS)},
        },
    },
    "retryPolicy": {
        "type": ["string", "null"],
        "enum": [*RETRY_POLICIES, None],
        "description": "Queue backend: a run whose worker died runs again if it had not started an outbound call"
        " (`unstarted`, the default, also null), always (`always`), or never (`never`: recorded interrupted)",
    },
}
"""The options' JSON Schema, for request-body documentation."""


@dataclass(frozen=True, slots=True)
class TrafficOptions:
    changes: dict[str, Any] = field(default_factory=dict)
    """New values of the deployment's columns, only for the options the body named."""


def _whole(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


def _rate_limit(value: Any, problems: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    if not isinstance(value, Mapping):
        problems.append('rateLimit must be an object such as {"maxRequests": 50, "windowMs": 60000}, or null')
        return None
    unknown = sorted(set(value) - {"enabled", "maxRequests", "windowMs"})
    if unknown:
        problems.append(f"rateLimit has unknown fields: {', '.join(unknown)} (allowed: enabled, maxRequests, windowMs)")
    enabled = value.get("enabled")
    if "enabled" in value and not isinstance(enabled, bool):
        problems.append("rateLimit.enabled must be true or false")
    maximum = value.get("maxRequests")
    if "maxRequests" in value and not (_whole(maximum) and 1 <= maximum <= MAX_REQUESTS_LIMIT):
        problems.append(f"rateLimit.maxRequests must be a whole number from 1 to {MAX_REQUESTS_LIMIT}")
    window = value.get("windowMs")
    if "windowMs" in value and not (_whole(window) and 1000 <= window <= MAX_WINDOW_MS and window % 1000 == 0):
        problems.append(
            f"rateLimit.windowMs must be a whole number of seconds in milliseconds (a multiple of 1000), "
            f"from 1000 to {MAX_WINDOW_MS}"
        )
    return {name: value[name] for name in ("enabled", "maxRequests", "windowMs") if name in value} or None


def parse_traffic_options(body: Mapping[str, Any], problems: list[str]) -> TrafficOptions:
    """The traffic options named in `body`; every problem found is appended to `problems`."""
    changes: dict[str, Any] = {}
    if "rateLimit" in body:
        changes["rate_limit"] = _rate_limit(body["rateLimit"], problems)
    if "maxConcurrency" in body:
        concurrency = body["maxConcurrency"]
        if concurrency is not None and not (_whole(concurrency) and 1 <= concurrency <= MAX_CONCURRENCY_LIMIT):
            problems.append(f"maxConcurrency must be a whole number from 1 to {MAX_CONCURRENCY_LIMIT}, or null")
        changes["max_concurrency"] = concurrency
    if "allowCallbackUrl" in body:
        allowed = body["allowCallbackUrl"]
        if not isinstance(allowed, bool):
            problems.append("allowCallbackUrl must be true or false")
        changes["callbacks_allowed"] = allowed is True
    if "usageBudget" in body:
        changes["usage_budget"] = _usage_budget(body["usageBudget"], problems)
    if "retryPolicy" in body:
        policy = body["retryPolicy"]
        if policy is not None and policy not in RETRY_POLICIES:
            problems.append(f"retryPolicy must be one of {', '.join(RETRY_POLICIES)}, or null")
        changes["retry_policy"] = policy
    return TrafficOptions(changes)


def _usage_budget(value: Any, problems: list[str]) -> dict[str, Any] | None:
    if value is None:
        return None
    wanted = 'usageBudget must be an object such as {"tokens": 1000000, "period": "day"}, or null'
    if not isinstance(value, Mapping) or set(value) != {"tokens", "period"}:
        problems.append(wanted)
        return None
    tokens, period = value["tokens"], value["period"]
    if not (_whole(tokens) and 1 <= tokens <= MAX_BUDGET_TOKENS):
        problems.append(f"usageBudget.tokens must be a whole number from 1 to {MAX_BUDGET_TOKENS}")
    if period not in BUDGET_PERIODS:
        problems.append("usageBudget.period must be day or month")
    return {"tokens": tokens, "period": period}


async def apply_traffic_options(conn: Connection, deployment_id: uuid.UUID, options: TrafficOptions) -> None:
    """Store the options on the deployment (in the caller's transaction); options not named stay as they are."""
    if options.changes:
        await deployment_queries.set_traffic_options(conn, deployment_id, options.changes)
