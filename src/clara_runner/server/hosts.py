"""The `Host` check in front of every route, the execute fast lane included (`ClaraApp`), and what
the routes ask of the allowed hosts (`security/hosts.py` says why)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.types import Scope

from clara_runner.errors import HostNotAllowed
from clara_runner.security.hosts import AllowedHosts
from clara_runner.server.errors import error_response

_SHOWN_LENGTH = 255


def host_header(scope: Scope) -> bytes | None:
    """The raw `Host` header; None without one (an HTTP/1.0 health check), which names nothing a
    browser could rebind, so such requests are answered."""
    for name, value in scope["headers"]:
        if name == b"host":
            host: bytes = value
            return host
    return None


def refusal(host: bytes) -> Response:
    shown = host.decode("latin-1")[:_SHOWN_LENGTH]
    return error_response(
        HostNotAllowed(f"This server does not answer to the host '{shown}'; its operator can add it to ALLOWED_HOSTS")
    )


def allowed_hosts(request: Request) -> AllowedHosts:
    hosts: AllowedHosts = request.app.allowed_hosts
    return hosts
