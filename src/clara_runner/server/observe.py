"""Every HTTP request, seen once from its first byte to its response's last: counted and timed by route
template (never by path, so label values stay few whatever callers send)."""

from __future__ import annotations

import re
import time
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from clara_runner.server import execute
from clara_runner.telemetry import metrics

UNMATCHED = "unmatched"
"""The route label of a request no route matched (a 404, a refused host)."""


class RequestObserver:
    def __init__(self, app: ASGIApp, fast_paths: re.Pattern[str]) -> None:
        self._app = app
        self._fast_paths = fast_paths

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self._app(scope, receive, sending)
        finally:
            metrics.request_answered(scope["method"], self._route(scope), status, time.perf_counter() - started)

    def _route(self, scope: Scope) -> str:
        route: Any = scope.get("route")
        if route is not None:
            return str(route.path) or "/"
        if self._fast_paths.fullmatch(scope["path"]):
            return execute.PATH
        return UNMATCHED
