"""Every endpoint of the management document, fed each class of input a client can send and the server
cannot take, answers with a 4xx and its code: never a 5xx, never a misleading 503."""

from __future__ import annotations

import itertools
from typing import Any

import httpx2
import pytest

from tests.support import bearer, deploy

HOSTILE_BODIES = [
    b'{"name": NaN}',
    b'{"name": Infinity, "workflow": -Infinity}',
    b'{"version": 1e400}',
    b'{"version": ' + b"7" * 5000 + b"}",
    b'{"name": "\\ud800", "workflow": {"nodes": []}}',
    b'{"name": "a\\u0000b", "userId": "\\u0000", "workflow": {"nodes": [], "connections": []}}',
    b'{"version": 100000000000000000000000000, "limit": -99999999999999999999}',
    b'{"rateLimit": {"maxRequests": 1e300, "windowMs": 99999999999999999999}, "maxConcurrency": 1e20}',
    b"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]]",
    b"\xff\xfe not text",
]
HOSTILE_QUERY_VALUES = [
    value.encode() for value in ("¹", "٣", "1e3", "99999999999999999999999", "-1", "\x00", "%", "a" * 5000)
] + [b"\xff\xfe"]
HOSTILE_HEADERS: list[dict[str, str | bytes]] = [
    {"Content-Type": "multipart/form-data; boundary=" + "b" * 5000},
    {"Content-Type": "multipart/form-data"},
    {"X-Workflow-Version": "99999999999999999999"},
    {"X-Workflow-Version": "¹".encode()},
    {"Idempotency-Key": "k" * 300},
]


async def _operations(client: httpx2.AsyncClient) -> list[tuple[str, str, list[str]]]:
    document = (await client.get("/api/openapi.json")).json()
    found = []
    for path, item in document["paths"].items():
        for method, operation in item.items():
            query = [p["name"] for p in operation.get("parameters", []) if p["in"] == "query"]
            found.append((method.upper(), path, query))
    return found


def _concrete(path: str, deployment: dict[str, Any]) -> str:
    return path.replace("{slug}", deployment["slug"]).replace("{deployment_id}", deployment["id"])


@pytest.mark.parametrize("as_key_holder", [False, True])
async def test_no_endpoint_answers_hostile_input_with_a_server_error(
    client: httpx2.AsyncClient, as_key_holder: bool
) -> None:
    deployment = await deploy(client, rateLimit={"enabled": False})
    auth = bearer(deployment["apiKey"]) if as_key_holder else {}
    failures = []
    for method, path, query in await _operations(client):
        url = _concrete(path, deployment)
        if method == "DELETE":
            url = url.replace(deployment["slug"], deployment["id"])
        attempts: list[dict[str, Any]] = [
            {"content": body, "headers": {**auth, "Content-Type": "application/json"}} for body in HOSTILE_BODIES
        ]
        attempts += [
            {"params": {name: value}, "headers": auth} for name, value in itertools.product(query, HOSTILE_QUERY_VALUES)
        ]
        attempts += [{"content": b"--x\r\n", "headers": {**auth, **headers}} for headers in HOSTILE_HEADERS]
        for attempt in attempts:
            if method in ("GET", "DELETE"):
                attempt.pop("content", None)
            response = await client.request(method, attempt.pop("url", url), **attempt)
            if response.status_code >= 500:
                failures.append(f"{method} {url} {attempt} -> {response.status_code} {response.text[:200]}")
            elif response.status_code >= 400:
                assert response.json()["code"], response.text
    assert failures == []
