"""The route class of the Manager's pages: the visitor is admitted first, the session cookie is sent
back after, and an error becomes a page (or, for htmx, a fragment) saying what to do, never JSON."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Any
from urllib.parse import quote

import structlog
from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from starlette.responses import RedirectResponse, Response

from clara_runner.errors import ClaraError
from clara_runner.server.errors import validation_failed
from clara_runner.web.templating import PAGE_HEADERS, render
from clara_runner.web.visitor import SignInRequired, admit, remember

log = structlog.get_logger(__name__)

SIGN_IN = "/manage/sign-in"


def is_htmx(request: Request) -> bool:
    return request.headers.get("hx-request") == "true"


class PageRoute(APIRoute):
    """A Manager page: only the admin gets past `admit`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                await admit(request)
                response = await handler(request)
            except SignInRequired:
                return _to_sign_in(request)
            except ClaraError as exc:
                response = error_page(request, exc)
            except RequestValidationError as exc:
                response = error_page(request, validation_failed(exc))
            except Exception as exc:
                log.exception("manager_page_failed", exc_info=exc)
                response = error_page(request, ClaraError("An unexpected error occurred; the server log has details"))
            finally:
                await request.close()
            remember(request, response)
            return response

        return page


class PublicRoute(APIRoute):
    """A page anyone may load (sign-in): errors still become pages."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def page(request: Request) -> Response:
            try:
                return await handler(request)
            except ClaraError as exc:
                return error_page(request, exc)

        return page


def error_page(request: Request, error: ClaraError) -> Response:
    template = "_error.html" if is_htmx(request) else "error.html"
    return render(request, template, status_code=error.status, error=error)


def _to_sign_in(request: Request) -> Response:
    target = f"{SIGN_IN}?next={quote(request.url.path, safe='/')}"
    if is_htmx(request):
        return Response(status_code=401, headers={**PAGE_HEADERS, "HX-Redirect": target})
    return RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
