"""Which URLs deliveries may go to: absolute http(s) URLs the egress policy lets the server reach.

Deliveries are POSTs the server makes to a URL someone else chose, exactly like a workflow's
api-request node, so they obey the same egress policy (`security/egress.py`): a webhook cannot reach
the server's loopback services, the private network or the cloud metadata endpoint unless the operator
allowed it. The URL is checked when it is given (a clear 400 rather than a delivery that can never
succeed), and every connection of every attempt is checked again by the guarded transport.
"""

from __future__ import annotations

import socket

import httpx2

from clara_runner.errors import InvalidRequest
from clara_runner.security.egress import EgressBlocked, EgressPolicy, Resolver, check_destination, check_host_form

MAX_URL_LENGTH = 2048


def parsed_url(value: object, name: str, error: type[InvalidRequest]) -> httpx2.URL:
    """`value` as an absolute http(s) URL without credentials; `error` (400) says what is wrong."""
    if not isinstance(value, str) or not value.strip():
        raise error(f"{name} must be a URL such as https://example.com/hooks/clara")
    if len(value) > MAX_URL_LENGTH:
        raise error(f"{name} must be at most {MAX_URL_LENGTH} characters")
    try:
        url = httpx2.URL(value.strip())
    except (httpx2.InvalidURL, ValueError) as exc:
        raise error(f"{name} is not a valid URL: {exc}") from exc
    if url.scheme not in ("http", "https") or not url.host:
        raise error(f"{name} must be an absolute http:// or https:// URL")
    if url.userinfo:
        raise error(f"{name} must not carry a user name or password; authenticate deliveries by their signature")
    return url


def check_form(policy: EgressPolicy, url: httpx2.URL, name: str, error: type[InvalidRequest]) -> None:
    """The checks that need no DNS: metadata host names and IP literals the policy refuses."""
    try:
        check_host_form(policy, url.host)
    except EgressBlocked as exc:
        raise error(f"{name} cannot be reached: {exc}") from exc


async def check_reachable(
    policy: EgressPolicy, url: httpx2.URL, name: str, error: type[InvalidRequest], resolver: Resolver
) -> None:
    """Every check the transport would make now, resolving the host; a host that does not resolve is
    refused too (it is almost always a typo)."""
    port = url.port or (443 if url.scheme == "https" else 80)
    try:
        await check_destination(policy, url.host, port, resolver)
    except EgressBlocked as exc:
        raise error(f"{name} cannot be reached: {exc}") from exc
    except (socket.gaierror, OSError) as exc:
        raise error(f"{name} names a host that does not resolve: {url.host}") from exc
