"""What routes need from the request: the runtime, path parameters checked, and link building."""

from __future__ import annotations

import functools
import uuid

from fastapi import Request

from clara_runner.errors import InvalidId, InvalidSlug
from clara_runner.runtime.services import Runtime
from clara_runner.server.hosts import allowed_hosts
from clara_runner.server.presenters import Links
from clara_runner.service.access import Caller
from clara_runner.service.deployments.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def links(request: Request) -> Links:
    configured = runtime(request).settings.base_url
    if configured:
        return _links_under(configured)
    scope = request.scope
    return _links_at(scope["scheme"], request.headers.get("host"), scope.get("root_path", ""), scope.get("server"))


@functools.lru_cache(maxsize=64)
def _links_under(base_url: str) -> Links:
    return Links(base_url)


@functools.lru_cache(maxsize=64)
def _links_at(scheme: str, host: str | None, root_path: str, server: tuple[str, int | None] | None) -> Links:
    """The links of requests that share what Starlette builds the base URL from, built once: parsing the
    request's URL cost an async submit (whose 202 carries three links) a tenth of its CPU. The `Host`
    values reaching here are the allowed ones (`hosts.py` refuses the rest before routing)."""
    headers = [] if host is None else [(b"host", host.encode("latin-1"))]
    scope = {"type": "http", "scheme": scheme, "root_path": root_path, "server": server, "path": "/"}
    return Links(str(Request({**scope, "headers": headers}).base_url))


FORWARDING_HEADERS = ("x-forwarded-for", "forwarded", "x-real-ip", "via", "x-forwarded-host", "x-forwarded-proto")
"""Headers a proxy adds: a request carrying one came through a proxy, from wherever its client is."""


def client_host(request: Request) -> str | None:
    """The client address that management's loopback trust judges (`security/admin.py`); None when the
    request may come from elsewhere, whatever its address says:

    * through a proxy (any forwarding header): the connection is the proxy's, from loopback for a proxy
      on this machine, and uvicorn (`proxy_headers`, which `clara-runner serve` turns on) replaces its
      address with one from `X-Forwarded-For`, which a client can write itself (`127.0.0.1`). The
      header stays in the request after that rewrite, so its presence alone decides;
    * from a browser page of another origin (`Origin` is not one of the allowed hosts on this
      request's scheme and port, nor `BASE_URL`'s origin): a browser on the server's machine is a
      loopback client, and any page it shows could send requests here.
    """
    headers = request.headers
    if any(name in headers for name in FORWARDING_HEADERS):
        return None
    origin = headers.get("origin")
    if origin is not None and not allowed_hosts(request).is_own_origin(origin, request.url.scheme, request.url.port):
        return None
    return request.client.host if request.client else None


async def caller(request: Request) -> Caller:
    """Who is asking: a deployment's key holder or the admin (`service/access.py` decides)."""
    return await runtime(request).access.caller(request.headers.get("authorization"), client_host(request))


def checked_slug(slug: str) -> str:
    if len(slug) > MAX_SLUG_LENGTH or not SLUG_PATTERN.match(slug):
        raise InvalidSlug()
    return slug


def checked_id(value: str, message: str | None = None) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidId(message) from exc
