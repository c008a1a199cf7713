"""The `api-request` node: an HTTP call with every option of Studio's node.

Method, query params, headers, auth (`apiKey` in a header or the query, `bearer`, `basic`, a
`custom` header), body encodings (json, form, multipart, text, xml, custom), response decoding
(auto, json, text, binary as base64), a timeout, retries with exponential backoff on network
errors, timeouts and 5xx (never on 4xx), redirects, and `validateStatus` (a non-2xx status fails
the node). The server engine's `data.url` / `data.body` / `data.headers` still work, and `data.url`
may be a `{{variable}}` template whose variables are input ports (values URL-encoded).

Calls go through the workflow HTTP client (where the egress policy applies), unless the URL is an
operator-configured service.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

import httpx2

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.remote import client_for
from clara_runner.flow.nodes.templates import fill, template_ports
from clara_runner.flow.nodes.values import as_text, parse_json_text, to_number

_CONTENT_TYPES = {
    "json": "application/json",
    "form": "application/x-www-form-urlencoded",
    "multipart": "multipart/form-data",
    "text": "text/plain",
    "xml": "application/xml",
}
_BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_USER_AGENT = "ClaraVerse-API-Node/1.0"


class RetryableFailure(Exception):
    """A failure worth another attempt: no response, a timeout, or a 5xx status."""


@dataclass(frozen=True, slots=True)
class _Request:
    method: str
    url: httpx2.URL
    headers: dict[str, str]
    content: bytes | None
    form: dict[str, str] | None
    multipart: dict[str, tuple[None, str]] | None


class ApiRequestNode(NodeType):
    type_name = "api-request"
    title = "API Request"
    description = "An HTTP request with auth, body encodings, retries and timeouts."
    inputs = (
        PortSpec("url", "URL", "string"),
        PortSpec("body", "Body", "any"),
        PortSpec("headers", "Headers", "object"),
        PortSpec("params", "Query Parameters", "object"),
        PortSpec("auth", "Authentication", "object"),
    )
    outputs = (
        PortSpec("data", "Response Data", "any", aliases=("output",)),
        PortSpec("status", "Status Code", "number"),
        PortSpec("headers", "Response Headers", "object"),
        PortSpec("success", "Success", "boolean"),
        PortSpec("metadata", "Metadata", "object"),
    )
    defaults = {
        "method": "GET",
        "timeout": 30000,
        "retries": 3,
        "retryDelay": 1000,
        "authType": "none",
        "contentType": "json",
        "responseType": "auto",
        "followRedirects": True,
        "validateStatus": True,
    }

    def input_ports(self, node: Node) -> Sequence[PortSpec]:
        return template_ports(node, ("url",), self.inputs)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        request = _build_request(call)
        client = client_for(call, str(request.url))
        retries = max(0, int(to_number(call.prop("retries"))))
        delay = max(0.0, to_number(call.prop("retryDelay")) / 1000)
        started = time.perf_counter()
        for attempt in range(retries + 1):
            try:
                response = await _send(call, client, request)
            except RetryableFailure as exc:
                if attempt == retries:
                    raise NodeError(f"API request failed after {retries} retries: {exc}") from exc
                await asyncio.sleep(delay * 2**attempt)
                continue
            return _result(call, request, response, attempt, started)
        raise AssertionError("unreachable: the loop returns or raises")


def _build_request(call: NodeCall) -> _Request:
    template = call.node.data.get("url")
    url = as_text(call.inputs.get("url"))
    if not url and isinstance(template, str):
        url = fill(template, call.inputs, lambda value: quote(value, safe=""))
    url = url.strip()
    if not url:
        raise NodeError("a URL is required: connect one to the url port or set the node's url")
    if not url.startswith(("http://", "https://")):
        raise NodeError(f"URL must start with http:// or https://, got {url[:200]!r}")
    method = call.text_prop("method").upper()
    headers = {"User-Agent": _USER_AGENT, **_string_map(call.node.data.get("headers"), "headers")}
    headers.update(_string_map(call.inputs.get("headers"), "headers input"))
    params = list(_string_map(call.inputs.get("params"), "params").items())
    _apply_auth(call, headers, params)
    body = call.inputs["body"] if "body" in call.inputs else call.node.data.get("body")
    content: bytes | None = None
    form: dict[str, str] | None = None
    multipart: dict[str, tuple[None, str]] | None = None
    if body is not None and method in _BODY_METHODS:
        content_type = _content_type(call.text_prop("contentType"))
        if content_type == "multipart/form-data":
            fields = parse_json_text(body)
            if not isinstance(fields, Mapping):
                raise NodeError("a multipart body must be an object of form fields")
            multipart = {key: (None, as_text(value)) for key, value in fields.items() if value is not None}
        elif content_type == "application/x-www-form-urlencoded" and isinstance(parse_json_text(body), Mapping):
            form = {key: as_text(value) for key, value in parse_json_text(body).items() if value is not None}
        else:
            content = as_text(body).encode()
        explicit = any(key.lower() == "content-type" for key in headers)
        if content_type and content_type != "multipart/form-data" and not explicit:
            headers["Content-Type"] = content_type
    try:
        target = httpx2.URL(url)
    except httpx2.InvalidURL as exc:
        raise NodeError(f"invalid URL {url[:200]!r}: {exc}") from exc
    if params:
        query = target.params
        for name, value in params:
            query = query.add(name, value)
        target = target.copy_with(params=query)
    return _Request(method, target, headers, content, form, multipart)


def _content_type(setting: str) -> str:
    """A MIME type for a Studio `contentType` (short name or MIME type); "" for `custom` (headers decide)."""
    if setting == "custom":
        return ""
    return _CONTENT_TYPES.get(setting, setting)


def _string_map(value: Any, what: str) -> dict[str, str]:
    value = parse_json_text(value)
    if value is None or value == "":
        return {}
    if not isinstance(value, Mapping):
        raise NodeError(f"{what} must be an object of names to values")
    return {str(key): as_text(item) for key, item in value.items() if item is not None}


def _apply_auth(call: NodeCall, headers: dict[str, str], params: list[tuple[str, str]]) -> None:
    auth_type = call.text_prop("authType")
    auth = parse_json_text(call.inputs.get("auth"))
    if auth_type == "none" or not isinstance(auth, Mapping):
        return
    if auth_type == "apiKey" and auth.get("key") and auth.get("value"):
        if auth.get("location") == "header":
            headers[as_text(auth["key"])] = as_text(auth["value"])
        else:
            params.append((as_text(auth["key"]), as_text(auth["value"])))
    elif auth_type == "bearer" and auth.get("token"):
        headers["Authorization"] = f"Bearer {as_text(auth['token'])}"
    elif auth_type == "basic" and auth.get("username") and auth.get("password"):
        credentials = f"{as_text(auth['username'])}:{as_text(auth['password'])}"
        headers["Authorization"] = "Basic " + base64.b64encode(credentials.encode()).decode()
    elif auth_type == "custom" and auth.get("headerName") and auth.get("headerValue"):
        headers[as_text(auth["headerName"])] = as_text(auth["headerValue"])


async def _send(call: NodeCall, client: httpx2.AsyncClient, request: _Request) -> httpx2.Response:
    timeout = max(0.001, to_number(call.prop("timeout")) / 1000)
    try:
        response = await client.request(
            request.method,
            request.url,
            headers=request.headers,
            content=request.content,
            data=request.form,
            files=request.multipart,
            timeout=timeout,
            follow_redirects=call.prop("followRedirects") is not False,
        )
    except httpx2.TimeoutException as exc:
        raise RetryableFailure(f"no answer within {timeout:g} s") from exc
    except (httpx2.NetworkError, httpx2.RemoteProtocolError) as exc:
        raise RetryableFailure(f"network error: {exc or type(exc).__name__}") from exc
    except httpx2.HTTPError as exc:
        raise NodeError(f"API request failed: {exc}") from exc
    if call.prop("validateStatus") is not False and not response.is_success:
        message = f"HTTP Error: {response.status_code} {response.reason_phrase}".rstrip()
        if response.status_code >= 500:
            raise RetryableFailure(message)
        raise NodeError(message)
    return response


def _result(
    call: NodeCall, request: _Request, response: httpx2.Response, retries: int, started: float
) -> dict[str, Any]:
    content_type = response.headers.get("content-type", "")
    return {
        "data": _decode(call.text_prop("responseType"), response, content_type),
        "status": response.status_code,
        "headers": dict(response.headers),
        "success": response.is_success,
        "metadata": {
            "url": str(response.request.url),
            "method": request.method,
            "requestTime": round((time.perf_counter() - started) * 1000),
            "retryCount": retries,
            "contentType": content_type,
            "size": int(response.headers.get("content-length") or len(response.content)),
            "timestamp": datetime.now(UTC).isoformat().replace("+00:00", "Z"),
        },
    }


def _decode(response_type: str, response: httpx2.Response, content_type: str) -> Any:
    if response_type == "binary":
        return base64.b64encode(response.content).decode()
    text = response.text
    if response_type == "text":
        return text
    if response_type == "json" or "json" in content_type:
        try:
            return json.loads(text)
        except ValueError:
            return text
    stripped = text.strip()
    if (stripped.startswith("{") and stripped.endswith("}")) or (stripped.startswith("[") and stripped.endswith("]")):
        try:
            return json.loads(stripped)
        except ValueError:
            return text
    return text
