"""Named API keys: create (shown once), list, revoke, expiry, and regenerate with an overlap."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.server.app import create_app
from tests.support import LOCAL_CLIENT, asgi_client, bearer, deploy, make_settings

EXECUTE = "/api/workflows/hello-world/execute"


async def _run(client: httpx2.AsyncClient, key: str) -> httpx2.Response:
    return await client.post(EXECUTE, json={"name": "Ada"}, headers=bearer(key))


def _iso(moment: datetime) -> str:
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_create_list_and_revoke_named_keys(client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    expires = datetime.now(UTC).replace(microsecond=0) + timedelta(days=30)
    created = await client.post("/api/workflows/hello-world/keys", json={"name": " CI ", "expiresAt": _iso(expires)})
    assert created.status_code == 201, created.text
    key = created.json()["key"]
    assert set(key) == {"id", "name", "prefix", "apiKey", "createdAt", "expiresAt"}
    assert (key["name"], key["expiresAt"]) == ("CI", _iso(expires))
    assert key["apiKey"].startswith(key["prefix"])
    assert (await _run(remote_client, key["apiKey"])).status_code == 200
    assert (await _run(remote_client, deployment["apiKey"])).status_code == 200

    listed = (await client.get("/api/workflows/hello-world/keys")).json()
    assert listed["pagination"] == {"limit": 50, "offset": 0, "hasMore": False}
    assert [(entry["name"], entry["status"]) for entry in listed["keys"]] == [("CI", "active"), ("default", "active")]
    ci = listed["keys"][0]
    assert "apiKey" not in ci
    assert (ci["id"], ci["prefix"], ci["expiresAt"], ci["revokedAt"]) == (
        key["id"],
        key["prefix"],
        key["expiresAt"],
        None,
    )
    assert ci["lastUsedAt"] is not None

    revoked = await client.delete(f"/api/workflows/hello-world/keys/{key['id']}")
    assert revoked.status_code == 200, revoked.text
    assert revoked.json()["key"]["status"] == "revoked"
    refused = await _run(remote_client, key["apiKey"])
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_revoked")
    assert (await _run(remote_client, deployment["apiKey"])).status_code == 200
    again = await client.delete(f"/api/workflows/hello-world/keys/{key['id']}")
    assert again.json()["key"]["revokedAt"] == revoked.json()["key"]["revokedAt"]


async def test_key_requests_are_checked(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    url = "/api/workflows/hello-world/keys"
    for body, problem in (
        ({}, "name is required and must be a non-empty string"),
        ({"name": "x", "expiresAt": "2020-01-01T00:00:00Z"}, "expiresAt must be in the future"),
        ({"name": "x", "expiresAt": "2030-01-01T00:00:00"}, "expiresAt must be an ISO 8601 date and time with a zone"),
        ({"name": "x", "scopes": []}, "unknown field 'scopes'"),
        ([], "Request body must be a JSON object"),
    ):
        response = await client.post(url, json=body)
        assert (response.status_code, response.json()["code"]) == (400, "validation_failed"), body
        assert response.json()["validationErrors"][0].startswith(problem), response.json()
    unknown = await client.delete(f"{url}/00000000-0000-0000-0000-000000000000")
    assert (unknown.status_code, unknown.json()["code"]) == (404, "key_not_found")
    malformed = await client.delete(f"{url}/nope")
    assert (malformed.status_code, malformed.json()["code"]) == (400, "invalid_id")
    missing = await client.get("/api/workflows/nothing/keys")
    assert (missing.status_code, missing.json()["code"]) == (404, "workflow_not_found")


async def test_keys_are_for_the_admin_only(client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    for response in (
        await remote_client.get("/api/workflows/hello-world/keys", headers=bearer(deployment["apiKey"])),
        await remote_client.post("/api/workflows/hello-world/keys", json={"name": "x"}),
    ):
        assert (response.status_code, response.json()["code"]) == (401, "admin_key_required")


@pytest.fixture
async def fast_expiring(database_url: str, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    """A server whose key cache outlives the expiries below, to show they are judged at every request."""
    app = create_app(make_settings(database_url, tmp_path, KEY_CACHE_SECONDS=60))
    async with app.router.lifespan_context(app), asgi_client(app, LOCAL_CLIENT) as client:
        yield client


async def test_an_expired_key_is_refused_even_while_cached(fast_expiring: httpx2.AsyncClient) -> None:
    client = fast_expiring
    await deploy(client)
    expires = datetime.now(UTC) + timedelta(seconds=1.5)
    key = await client.post("/api/workflows/hello-world/keys", json={"name": "short", "expiresAt": _iso(expires)})
    api_key = key.json()["key"]["apiKey"]
    assert (await _run(client, api_key)).status_code == 200
    await asyncio.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 0.05)
    refused = await _run(client, api_key)
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_expired")
    listed = (await client.get("/api/workflows/hello-world/keys")).json()["keys"]
    assert [entry["status"] for entry in listed] == ["expired", "active"]


async def test_regenerate_with_an_overlap_keeps_the_old_keys_working_until_it_ends(
    fast_expiring: httpx2.AsyncClient,
) -> None:
    client = fast_expiring
    deployment = await deploy(client)
    old = deployment["apiKey"]
    regenerated = await client.post(f"/api/workflows/{deployment['id']}/regenerate-key", json={"overlapSeconds": 1})
    assert regenerated.status_code == 200, regenerated.text
    workflow: dict[str, Any] = regenerated.json()["workflow"]
    until = datetime.fromisoformat(workflow["previousKeysValidUntil"])
    assert (await _run(client, old)).status_code == 200
    assert (await _run(client, workflow["apiKey"])).status_code == 200
    listed = (await client.get("/api/workflows/hello-world/keys")).json()["keys"]
    assert [(entry["status"], entry["revokedAt"]) for entry in listed] == [
        ("active", None),
        ("active", workflow["previousKeysValidUntil"]),
    ]
    await asyncio.sleep(max(0.0, (until - datetime.now(UTC)).total_seconds()) + 0.05)
    refused = await _run(client, old)
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_revoked")
    assert (await _run(client, workflow["apiKey"])).status_code == 200

    immediate = await client.post(f"/api/workflows/{deployment['id']}/regenerate-key")
    assert immediate.json()["workflow"]["previousKeysValidUntil"] is None
    assert (await _run(client, workflow["apiKey"])).json()["code"] == "api_key_revoked"
    for body in ({"overlapSeconds": -1}, {"overlapSeconds": 10**7}, {"overlap": 5}, {"overlapSeconds": True}):
        bad = await client.post(f"/api/workflows/{deployment['id']}/regenerate-key", json=body)
        assert (bad.status_code, bad.json()["code"]) == (400, "validation_failed"), body
