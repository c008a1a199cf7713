"""Input a client can send that the server cannot take is a clear 400 with a stable code, before any node
runs, and leaves the server and its records as they were (no 500, no misleading 503)."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.support import bearer, deploy

EXECUTE = "/api/workflows/hello-world/execute"


async def _history(client: httpx2.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await client.get("/api/workflows/hello-world/executions", headers=bearer(key))
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b'{"name": NaN}', "invalid_json_number"),
        (b'{"name": Infinity}', "invalid_json_number"),
        (b'{"name": 1e400}', "invalid_json_number"),
        (b'{"name": ' + b"9" * 4400 + b"}", "invalid_json_number"),
        (b'{"name": "\\ud800"}', "malformed_json"),
    ],
)
async def test_execute_refuses_values_json_cannot_carry_before_running(
    client: httpx2.AsyncClient, body: bytes, code: str
) -> None:
    key = (await deploy(client))["apiKey"]
    response = await client.post(EXECUTE, content=body, headers={**bearer(key), "Content-Type": "application/json"})
    assert (response.status_code, response.json()["code"]) == (400, code)
    (record,) = await _history(client, key)
    assert (record["status"], record["errorCode"], record["nodesExecuted"]) == ("error", code, 0)
    assert record["trace"] == []


async def test_an_overlong_multipart_boundary_is_a_400(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    boundary = "b" * 5000
    body = f'--{boundary}\r\nContent-Disposition: form-data; name="name"\r\n\r\nAda\r\n--{boundary}--\r\n'.encode()
    response = await client.post(
        EXECUTE, content=body, headers={**bearer(key), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    )
    assert (response.status_code, response.json()["code"]) == (400, "malformed_multipart")
    assert "70" in response.json()["message"]


@pytest.mark.parametrize("limit", ["¹", "٣", "1e3", "0x10"])
async def test_non_ascii_or_non_decimal_page_sizes_are_a_400(client: httpx2.AsyncClient, limit: str) -> None:
    key = (await deploy(client))["apiKey"]
    response = await client.get("/api/workflows/hello-world/executions", params={"limit": limit}, headers=bearer(key))
    assert (response.status_code, response.json()["code"]) == (400, "validation_failed")
    listing = await client.get("/api/deployments", params={"offset": limit})
    assert listing.status_code == 400


async def test_a_version_number_beyond_what_is_stored_is_a_400(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    response = await client.post("/api/workflows/hello-world/rollback", json={"version": 10**25})
    assert (response.status_code, response.json()["code"]) == (400, "validation_failed")
    assert "2147483647" in response.json()["message"]


@pytest.mark.parametrize("field", ["name", "description", "userId"])
async def test_nul_characters_in_deploy_fields_are_a_400_that_says_so(client: httpx2.AsyncClient, field: str) -> None:
    body: dict[str, Any] = {"name": "Hello", "workflow": {"nodes": [], "connections": []}, field: "a\x00b"}
    response = await client.post("/api/deploy", json=body)
    assert (response.status_code, response.json()["code"]) == (400, "validation_failed")
    assert f"{field} must not contain NUL characters" in response.json()["message"]
