"""The management API's own OpenAPI document, served at `/api/openapi.json` (docs at `/api/docs`).

FastAPI generates it from the routes, whose `responses=` and `openapi_extra=` declare every body
and status (`schemas.py`). This module adds what FastAPI cannot know: the shared Error schema, the two
bearer schemes, and the removal of the 422 "HTTPValidationError" FastAPI adds to every route with
parameters, which this server never sends (a parameter problem is a 400 with the Error body).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.utils import get_openapi
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Receive, Scope, Send

from clara_runner.contract.envelopes import ERROR_SCHEMA
from clara_runner.security.hosts import AllowedHosts
from clara_runner.server.hosts import host_header, refusal

SECURITY_SCHEMES: dict[str, Any] = {
    "adminKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "The server's admin key (CLARA_ADMIN_KEY). While none is set, management endpoints answer "
        "clients on the server's own machine without credentials, and nobody else.",
    },
    "apiKey": {
        "type": "http",
        "scheme": "bearer",
        "description": "A deployment's API key, `clara_sk_...`, as returned by deploy or regenerate-key",
    },
}

TAGS = [
    {"name": "Service", "description": "Health and information"},
    {"name": "Deployments", "description": "Deploy, list, delete, rotate keys (admin)"},
    {"name": "Workflows", "description": "A deployment's details, execution and history"},
    {"name": "Documentation", "description": "A deployment's OpenAPI document and docs pages"},
    {"name": "Versions", "description": "A deployment's versions: deploy a new one, list them, roll back"},
    {"name": "Executions", "description": "One run: read it, follow its events, cancel it"},
    {"name": "Webhooks", "description": "Signed notifications of finished runs (admin)"},
    {"name": "Keys", "description": "A deployment's named API keys: create, list, revoke (admin)"},
    {"name": "Statistics", "description": "A deployment's runs over time: by status, durations, tokens"},
]

_FASTAPI_VALIDATION = "#/components/schemas/HTTPValidationError"


def management_server(base_url: str) -> dict[str, str]:
    """The document's server: `BASE_URL` when set, else `/`, which OpenAPI resolves against the URL the
    document was fetched from (the server answering it), as the docs pages and generated clients need."""
    return {"url": base_url.rstrip("/") or "/", "description": "This Clara Agent Runner"}


class ClaraApp(FastAPI):
    """FastAPI with a `Host` check and a fast lane in front, and the management document completed as
    described above.

    Every request whose `Host` names a host outside `allowed_hosts` is refused (400
    `host_not_allowed`) before anything else sees it (`hosts.py`). Requests for the fast lane's paths
    (execute) never enter FastAPI: they go to `fast_lane` (`fast_lane.py`), with this app as the
    request's app. The lane's routes are documented here from `documented`, as FastAPI would document
    them if it served them.
    """

    def __init__(
        self,
        fast_lane: ASGIApp,
        fast_paths: re.Pattern[str],
        allowed_hosts: AllowedHosts,
        *,
        documented: Sequence[BaseRoute] = (),
        **options: Any,
    ) -> None:
        super().__init__(**options)
        self._fast_lane = fast_lane
        self._fast_paths = fast_paths
        self.allowed_hosts = allowed_hosts
        self._documented = list(documented)
        self._entry: ASGIApp = self._dispatch

    def observe(self, wrap: Callable[[ASGIApp], ASGIApp]) -> None:
        """Put `wrap` around everything the app serves, the fast lane and refused hosts included."""
        self._entry = wrap(self._entry)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self._entry(scope, receive, send)

    async def _dispatch(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            host = host_header(scope)
            if host is not None and not self.allowed_hosts.allows(host):
                await refusal(host)(scope, receive, send)
                return
            if self._fast_paths.fullmatch(scope["path"]):
                scope["app"] = self
                await self._fast_lane(scope, receive, send)
                return
        await super().__call__(scope, receive, send)

    def openapi(self) -> dict[str, Any]:
        if self.openapi_schema is None:
            document = get_openapi(
                title=self.title,
                version=self.version,
                description=self.description,
                routes=[*self.routes, *self._documented],
                tags=TAGS,
                servers=self.servers,
            )
            _drop_fastapi_validation(document)
            components = document.setdefault("components", {})
            components.setdefault("schemas", {})["Error"] = dict(ERROR_SCHEMA)
            components["securitySchemes"] = SECURITY_SCHEMES
            self.openapi_schema = document
        return self.openapi_schema


def _drop_fastapi_validation(document: dict[str, Any]) -> None:
    for path_item in document.get("paths", {}).values():
        for operation in path_item.values():
            responses = operation.get("responses", {})
            schema = responses.get("422", {}).get("content", {}).get("application/json", {}).get("schema", {})
            if schema.get("$ref") == _FASTAPI_VALIDATION:
                del responses["422"]
    schemas = document.get("components", {}).get("schemas", {})
    for name in ("HTTPValidationError", "ValidationError"):
        schemas.pop(name, None)
