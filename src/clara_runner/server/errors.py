"""The one place where errors become HTTP responses: `{success: false, error, message, code, timestamp}`."""

from __future__ import annotations

from typing import Any

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.routing import Match

from clara_runner.clock import iso_now
from clara_runner.errors import (
    ClaraError,
    EndpointNotFound,
    MethodNotAllowed,
    ValidationFailed,
)
from clara_runner.security.redaction import Redactor, active_redactor
from clara_runner.telemetry import metrics

log = structlog.get_logger(__name__)
_SHAPES = Redactor()


def error_body(error: ClaraError) -> dict[str, Any]:
    """The envelope, with secret-shaped text redacted (errors of a run are redacted by the run itself
    with everything it knows; this catches the rest)."""
    redacted: dict[str, Any] = (active_redactor.get() or _SHAPES).value(error.envelope(iso_now()))
    return redacted


def error_response(error: ClaraError) -> JSONResponse:
    metrics.error_answered(error.code)
    return JSONResponse(error_body(error), status_code=error.status, headers=error.headers or None)


def failure_response(exc: Exception) -> JSONResponse:
    """The response to an exception a request ended with: its envelope, or a 500 for an unexpected one."""
    if not isinstance(exc, ClaraError):
        log.exception("unexpected_error", exc_info=exc)
        return error_response(ClaraError("An unexpected error occurred"))
    if exc.status >= 500:
        log.error("request_failed", code=exc.code, message=exc.message)
    return error_response(exc)


async def _failure(_: Request, exc: Exception) -> JSONResponse:
    return failure_response(exc)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, HTTPException)
    if exc.status_code == 404:
        error: ClaraError = EndpointNotFound(
            f"The endpoint {request.method} {request.url.path} does not exist",
            details={"availableEndpoints": "/api/info"},
        )
    elif exc.status_code == 405:
        allowed = _allowed_methods(request)
        error = MethodNotAllowed(
            f"{request.url.path} accepts {allowed}, not {request.method}", headers={"Allow": allowed}
        )
    else:
        error = ClaraError(str(exc.detail), status=exc.status_code)
    return error_response(error)


_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")


def _allowed_methods(request: Request) -> str:
    """Every method some route accepts at this path, for the `Allow` header RFC 9110 requires on a 405.

    Starlette names only the first matching route's methods, which is wrong where two routes share a
    path (GET and DELETE /api/workflows/{slug}); so each method is tried against every route."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in _METHODS
        if any(route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes)
    ]
    return ", ".join(allowed)


def validation_failed(exc: RequestValidationError) -> ValidationFailed:
    """FastAPI's parameter errors as ours: each problem named by the parameter it is about."""
    return ValidationFailed([f"{'.'.join(str(p) for p in item['loc'][1:])}: {item['msg']}" for item in exc.errors()])


async def _validation_error(_: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    return error_response(validation_failed(exc))


def install_error_handlers(app: Starlette) -> None:
    app.add_exception_handler(ClaraError, _failure)
    app.add_exception_handler(HTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    app.add_exception_handler(Exception, _failure)
