"""Requests served past FastAPI: execute, the hot path.

FastAPI's request handling (dependency solving, parameter models, its middleware layers) and even
Starlette's routing and exception middleware cost more CPU than the rest of a hello-world execute,
so `ClaraApp` hands requests whose path matches `PATH` to this plain ASGI app: one regular
expression, one `Request`, the endpoint (`execute.py`), and the same error envelopes as everywhere
else (`errors.py`). With CORS configured, the same `CORSMiddleware` as the main app wraps it.
"""

from __future__ import annotations

import re
from typing import Any

from starlette.middleware.cors import CORSMiddleware
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import compile_path
from starlette.types import ASGIApp, Receive, Scope, Send

from clara_runner.errors import MethodNotAllowed
from clara_runner.server import execute
from clara_runner.server.errors import error_response, failure_response

PATH: re.Pattern[str] = compile_path(execute.PATH)[0]
"""`execute.PATH` as Starlette would match it: a slug is any one segment; `checked_slug` judges it."""


async def _lane(scope: Scope, receive: Receive, send: Send) -> None:
    match = PATH.fullmatch(scope["path"])
    assert match is not None
    scope["path_params"] = match.groupdict()
    request = Request(scope, receive)
    response: Response
    if scope["method"] != "POST":
        response = error_response(
            MethodNotAllowed(f"{scope['path']} accepts POST, not {scope['method']}", headers={"Allow": "POST"})
        )
    else:
        try:
            response = await execute.execute(request)
        except Exception as exc:
            response = failure_response(exc)
    await response(scope, receive, send)


def fast_lane(cors: dict[str, Any] | None) -> ASGIApp:
    return _lane if cors is None else CORSMiddleware(_lane, **cors)
