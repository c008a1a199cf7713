"""Who is using the Manager, decided on every request, and the CSRF check on every change.

* With `CLARA_ADMIN_KEY` set, a session opened by signing in with the admin key
  (`service/manager_sessions.py`) is required; without one, pages send the browser to the sign-in page.
* Without an admin key, the Manager answers only clients on the server's own machine, exactly as the
  management API does (`server/deps.client_host` and `security/admin.py` decide). Such a client gets a
  session at once, with no sign-in: it carries the CSRF token.

Every request that changes something (any method but GET and HEAD) must carry the session's CSRF
token (the `csrf` form field or the `X-CSRF-Token` header, which the pages send), and, when the browser
names its origin, come from one of this server's own pages. The cookie holds only the session's random
token; it is `HttpOnly`, `SameSite=Strict`, limited to `/manage`, and `Secure` when the page was
served over HTTPS (the request's scheme, which `clara-runner serve` takes from a proxy's
`X-Forwarded-Proto`, or an `https://` `BASE_URL`). It has no expiry of its own: the server ends the
session (idle time, lifetime, sign-out), and the browser forgets the cookie when it closes.

The use cases are then called as the admin: with the admin key as the bearer token when one is set,
else as the loopback client this is.
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass

from fastapi import Request
from starlette.datastructures import FormData
from starlette.responses import Response

from clara_runner.errors import AdminKeyRequired, ClaraError
from clara_runner.security.admin import HOW_TO_SET
from clara_runner.server.deps import client_host, runtime
from clara_runner.server.hosts import allowed_hosts
from clara_runner.service.manager_sessions import Session

COOKIE = "clara_manager"
CSRF_FIELD = "csrf"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD"})


class SignInRequired(ClaraError):
    """The Manager needs a sign-in with the admin key (or the session has expired)."""

    code = "sign_in_required"
    status = 401
    error = "Sign-in required"


class CsrfFailed(ClaraError):
    """A change reached the Manager without its page's CSRF token, or from another site's page."""

    code = "csrf_failed"
    status = 403
    error = "Request refused"


@dataclass(frozen=True, slots=True)
class Visitor:
    """The admin, using the Manager."""

    authorization: str | None
    """What the use cases are given as the `Authorization` header: the admin key, when one is set."""
    client_host: str | None
    session: Session
    signed_in: bool
    """True when the session was opened with the admin key (so signing out means something)."""

    @property
    def csrf(self) -> str:
        return self.session.csrf


async def admit(request: Request) -> Visitor:
    """The visitor, when the admin; raises `SignInRequired`, `AdminKeyRequired` or `CsrfFailed` otherwise.
    A session opened here (loopback, first visit) leaves its token on `request.state` for `remember`."""
    state = runtime(request)
    session = await state.manager_sessions.resume(request.cookies.get(COOKIE))
    admin = state.access.admin
    host = client_host(request)
    if admin.configured:
        if session is None:
            raise SignInRequired("Sign in with the admin key (CLARA_ADMIN_KEY) to use the Deployment Manager")
        authorization: str | None = f"Bearer {state.settings.admin_key}"
    else:
        if not admin.allows(None, host):
            raise AdminKeyRequired(
                "The Deployment Manager answers only browsers on this machine until an admin key is configured. "
                + HOW_TO_SET
            )
        authorization = None
        if session is None:
            request.state.token_to_send, session = await state.manager_sessions.open()
    if request.method not in SAFE_METHODS:
        await _check_csrf(request, session)
    visitor = Visitor(authorization, host, session, signed_in=admin.configured)
    request.state.visitor = visitor
    return visitor


async def _check_csrf(request: Request, session: Session) -> None:
    origin = request.headers.get("origin")
    if origin is not None and not allowed_hosts(request).is_own_origin(origin, request.url.scheme, request.url.port):
        raise CsrfFailed("Changes are accepted only from the Deployment Manager's own pages")
    sent = request.headers.get(CSRF_HEADER)
    if sent is None and request.headers.get("content-type", "").startswith(
        ("application/x-www-form-urlencoded", "multipart/form-data")
    ):
        value = (await form(request)).get(CSRF_FIELD)
        sent = value if isinstance(value, str) else None
    if sent is None or not hmac.compare_digest(sent.encode(), session.csrf.encode()):
        raise CsrfFailed("This page has expired: reload it and try again")


async def form(request: Request) -> FormData:
    """The request's form, read once, with parts as large as an execute body may be (a pasted workflow)."""
    limit = runtime(request).settings.max_input_size
    return await request.form(max_part_size=limit, max_files=10, max_fields=100)


def remember(request: Request, response: Response) -> None:
    """Send the session cookie when `admit` opened a session."""
    token: str | None = getattr(request.state, "token_to_send", None)
    if token is not None:
        set_cookie(request, response, token)


def set_cookie(request: Request, response: Response, token: str) -> None:
    response.set_cookie(
        COOKIE,
        token,
        path="/manage",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https" or runtime(request).settings.base_url.startswith("https://"),
    )


def forget(response: Response) -> None:
    response.delete_cookie(COOKIE, path="/manage", httponly=True, samesite="strict")
