"""Every HTTP request, seen once from its first byte to its response's last: given a request id, counted
and timed by route template (never by path, so label values stay few whatever callers send), and logged
as one line with what the handlers bound on the way (deployment, key prefix, execution id).

The request id is the caller's `X-Request-ID` when it is a plain token of up to 128 characters, else a
new one; the response carries it back, and every log line of the request names it.
"""

from __future__ import annotations

import re
import secrets
import time
from contextlib import nullcontext
from typing import Any

import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clara_runner.server import execute
from clara_runner.telemetry import metrics, tracing

UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404, a refused host)."""
REQUEST_ID_HEADER = b"x-request-id"
_REQUEST_ID = re.compile(rb"[A-Za-z0-9._:\-]{1,128}")

log = structlog.get_logger("clara_runner.requests")


class RequestObserver:
    def __init__(self, app: ASGIApp, fast_paths: re.Pattern[str], *, count: bool, log_requests: bool) -> None:
        self._app = app
        self._fast_paths = fast_paths
        self._count = count
        self._log = log_requests

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        request_id = _request_id(scope)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        status = 500
        echoed = (REQUEST_ID_HEADER, request_id.encode())

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message["headers"] = [*message.get("headers", ()), echoed]
            await send(message)

        traced = tracing.request_span(scope["method"], scope["headers"]) if tracing.enabled() else nullcontext()
        with traced as span:
            try:
                await self._app(scope, receive, sending)
            finally:
                route = self._route(scope)
                if span is not None:
                    tracing.request_answered(span, scope["method"], route, status)
                self._answered(scope, route, status, time.perf_counter() - started)

    def _answered(self, scope: Scope, route: str, status: int, seconds: float) -> None:
        if self._count:
            metrics.request_answered(scope["method"], route, status, seconds)
        if self._log:
            log.info(
                "request",
                method=scope["method"],
                route=route,
                path=scope["path"],
                status=status,
                duration_ms=round(seconds * 1000, 3),
            )

    def _route(self, scope: Scope) -> str:
        route: Any = scope.get("route")
        if route is not None:
            return str(route.path) or "/"
        if self._fast_paths.fullmatch(scope["path"]):
            return execute.PATH
        return UNMATCHED


def _request_id(scope: Scope) -> str:
    for name, value in scope["headers"]:
        if name == REQUEST_ID_HEADER:
            return value.decode() if _REQUEST_ID.fullmatch(value) else secrets.token_hex(16)
    return secrets.token_hex(16)
