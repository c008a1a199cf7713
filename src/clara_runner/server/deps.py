"""What routes need from the request: the runtime, path parameters checked, and link building."""

from __future__ import annotations

import uuid

from fastapi import Request

from clara_runner.errors import InvalidId, InvalidSlug
from clara_runner.runtime.services import Runtime
from clara_runner.server.presenters import Links
from clara_runner.service.access import Caller
from clara_runner.service.deployments.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN


def runtime(request: Request) -> Runtime:
    found: Runtime = request.app.state.runtime
    return found


def links(request: Request) -> Links:
    configured = runtime(request).settings.base_url
    return Links(configured or str(request.base_url))


def client_host(request: Request) -> str | None:
    """The client address that management access judges; None for a browser page of another origin.

    Without an admin key, management trusts loopback clients, and a browser on the server's machine is
    one: any web page it shows could send requests to localhost (and read the answers where CORS allows).
    Such requests carry a foreign `Origin`, so they are treated as coming from nowhere trusted.
    """
    origin = request.headers.get("origin")
    if origin is not None and origin != f"{request.url.scheme}://{request.url.netloc}":
        return None
    return request.client.host if request.client else None


async def caller(request: Request) -> Caller:
    """Who is asking: a deployment's key holder or the admin (`service/access.py` decides)."""
    return await runtime(request).access.caller(request.headers.get("authorization"), client_host(request))


def checked_slug(slug: str) -> str:
    if len(slug) > MAX_SLUG_LENGTH or not SLUG_PATTERN.match(slug):
        raise InvalidSlug()
    return slug


def checked_id(value: str) -> uuid.UUID:
    try:
        return uuid.UUID(value)
    except ValueError as exc:
        raise InvalidId() from exc
