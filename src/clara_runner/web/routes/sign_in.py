"""Sign in with the admin key, and sign out."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Form, Request
from starlette.responses import RedirectResponse, Response

from clara_runner.server.deps import runtime
from clara_runner.web.route import SIGN_IN, PageRoute, PublicRoute
from clara_runner.web.templating import PAGE_HEADERS, render
from clara_runner.web.visitor import COOKIE, forget, set_cookie

public = APIRouter(route_class=PublicRoute)
signed_in = APIRouter(route_class=PageRoute)
HOME = "/manage"


def _next(target: str | None) -> str:
    """Where to go after sign-in: a Manager page of this server, never another site."""
    if target and target.startswith("/manage") and not target.startswith("//"):
        return target
    return HOME


@public.get(SIGN_IN, include_in_schema=False)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    if not runtime(request).access.admin.configured:
        return RedirectResponse(_next(next), status_code=303, headers=PAGE_HEADERS)
    return render(request, "sign_in.html", next=_next(next), problem=None)


@public.post(SIGN_IN, include_in_schema=False)
async def sign_in(
    request: Request, admin_key: Annotated[str, Form(alias="adminKey")] = "", next: Annotated[str, Form()] = HOME
) -> Response:
    admin = runtime(request).access.admin
    if not admin.configured:
        return RedirectResponse(_next(next), status_code=303, headers=PAGE_HEADERS)
    if not admin.allows(admin_key.strip(), None):
        return render(
            request,
            "sign_in.html",
            status_code=401,
            next=_next(next),
            problem="That is not the admin key. Use the value of CLARA_ADMIN_KEY set on the server.",
        )
    token, _ = await runtime(request).manager_sessions.open()
    response = RedirectResponse(_next(next), status_code=303, headers=PAGE_HEADERS)
    set_cookie(request, response, token)
    return response


@signed_in.post("/manage/sign-out", include_in_schema=False)
async def sign_out(request: Request) -> Response:
    state = runtime(request)
    await state.manager_sessions.close(request.cookies.get(COOKIE))
    target = SIGN_IN if state.access.admin.configured else HOME
    response = RedirectResponse(target, status_code=303, headers=PAGE_HEADERS)
    forget(response)
    return response
