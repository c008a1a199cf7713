"""Calling the HTTP services a node depends on, with every failure turned into a message for the caller.

The client comes from the run context: an operator-configured service URL is reached with the
services client, any other URL (one the workflow chose) with the workflow client, where the egress
policy applies. A connection failure, a timeout, an error status or a body that is not the expected
JSON becomes a `NodeError` naming the service, the URL and what it said.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx2

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.base import NodeCall

SLOW_CALL = httpx2.Timeout(600.0, connect=10.0)
"""For calls that legitimately take minutes (transcribing an hour of audio); the run deadline still applies."""

_DETAIL_LIMIT = 300


def client_for(call: NodeCall, url: str) -> httpx2.AsyncClient:
    http = call.context.http
    if http is None:
        raise NodeError(f"this run was started without an HTTP client, so the node cannot reach {url}")
    return http.for_url(url, call.context.services)


async def send(
    call: NodeCall,
    service: str,
    method: str,
    url: str,
    *,
    describe: Callable[[httpx2.Response], str] | None = None,
    **options: Any,
) -> httpx2.Response:
    """`method url` through the right client; the response if its status is 2xx, else `NodeError`.

    `describe` reads an error response's body into a message (default: `error_detail`).
    """
    client = client_for(call, url)
    try:
        response = await client.request(method, url, **options)
    except httpx2.TimeoutException as exc:
        raise NodeError(f"{service} at {url} did not answer in time") from exc
    except httpx2.HTTPError as exc:
        raise NodeError(f"could not reach {service} at {url}: {exc}") from exc
    if response.is_error:
        detail = (describe or error_detail)(response)
        status = f"{response.status_code} {response.reason_phrase}".strip()
        raise NodeError(f"{service} answered {status}" + (f": {detail}" if detail else ""))
    return response


def json_body(response: httpx2.Response, service: str) -> Any:
    try:
        return response.json()
    except ValueError as exc:
        raise NodeError(f"{service} answered with something other than JSON: {_snippet(response.text)}") from exc


def error_detail(response: httpx2.Response) -> str:
    """The message an error body carries, in the shapes OpenAI, FastAPI and ComfyUI use; else its text."""
    try:
        body = response.json()
    except ValueError:
        return _snippet(response.text)
    return message_of(body)


def message_of(body: Any) -> str:
    """The message an error document carries (`{"error": {"message": ...}}` and its kin); else its text."""
    if isinstance(body, dict):
        for key in ("error", "detail", "message"):
            value = body.get(key)
            if isinstance(value, dict):
                value = value.get("message") or value.get("detail") or value
            if value:
                return _snippet(value if isinstance(value, str) else str(value))
    return _snippet(str(body))


def _snippet(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _DETAIL_LIMIT else text[:_DETAIL_LIMIT] + "..."


BACKEND = "the Clara Python backend"


def backend_url(call: NodeCall, path: str) -> str:
    """`path` on the operator's Clara Python backend (`PYTHON_BACKEND_URL`)."""
    return call.context.services.python_backend_url.rstrip("/") + path
