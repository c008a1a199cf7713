"""Reading a run's Server-Sent Events and its record, as a client would (httpx-sse)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.support import bearer

FINAL = {"success", "error", "timeout", "cancelled", "interrupted"}
STREAM = {"Accept": "text/event-stream"}


async def deployed(http: httpx.AsyncClient, base_url: str, name: str, workflow: Any, **options: Any) -> dict[str, Any]:
    """Deploy `workflow` as `name` on the server at `base_url`; the `deployment` (with its key)."""
    response = await http.post(f"{base_url}/api/deploy", json={"name": name, "workflow": workflow, **options})
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


async def read_stream(
    http: httpx.AsyncClient, method: str, url: str, *, stop_after: int | None = None, **kwargs: Any
) -> tuple[httpx.Response, list[ServerSentEvent]]:
    """The response and its events, until the stream ends (or `stop_after` events, then hang up)."""
    events: list[ServerSentEvent] = []
    async with aconnect_sse(http, method, url, **kwargs) as source:
        async for event in source.aiter_sse():
            events.append(event)
            if stop_after is not None and len(events) == stop_after:
                break
        return source.response, events


async def wait_final(http: httpx.AsyncClient, url: str, key: str) -> dict[str, Any]:
    for _ in range(400):
        response = await http.get(url, headers=bearer(key))
        assert response.status_code == 200, response.text
        execution: dict[str, Any] = response.json()["execution"]
        if execution["status"] in FINAL:
            return execution
        await asyncio.sleep(0.05)
    raise AssertionError("the run did not finish within 20 s")
