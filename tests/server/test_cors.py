"""CORS from CORS_ORIGINS, and management refusing web pages of other origins."""

from __future__ import annotations

from pathlib import Path

import httpx2

from tests.apps import client_for
from tests.support import HELLO_WORLD, bearer, deploy

PAGE = "https://app.example.com"
PREFLIGHT = {
    "Origin": PAGE,
    "Access-Control-Request-Method": "POST",
    "Access-Control-Request-Headers": "authorization, content-type, idempotency-key, x-workflow-version",
}


async def test_without_cors_origins_no_cross_origin_access_is_granted(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    response = await client.post(
        f"/api/workflows/{deployment['slug']}/execute",
        json={"name": "Ada"},
        headers={**bearer(deployment["apiKey"]), "Origin": PAGE},
    )
    preflight = await client.options(f"/api/workflows/{deployment['slug']}/execute", headers=PREFLIGHT)
    assert response.status_code == 200
    assert "access-control-allow-origin" not in response.headers
    assert "access-control-allow-origin" not in preflight.headers


async def test_a_wildcard_lets_any_page_call_the_api_without_credentials(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path, CORS_ORIGINS="*") as client:
        deployment = await deploy(client)
        path = f"/api/workflows/{deployment['slug']}/execute"
        preflight = await client.options(path, headers=PREFLIGHT)
        response = await client.post(
            path, json={"name": "Ada"}, headers={**bearer(deployment["apiKey"]), "Origin": PAGE}
        )
        refused = await client.post(path, json={"name": "Ada"}, headers={"Origin": PAGE})

    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == "*"
    allowed = {name.strip().lower() for name in preflight.headers["access-control-allow-headers"].split(",")}
    assert {"authorization", "content-type", "idempotency-key", "x-workflow-version"} <= allowed
    assert "POST" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers
    assert response.status_code == 200
    assert response.headers["access-control-allow-origin"] == "*"
    exposed = response.headers["access-control-expose-headers"]
    assert "RateLimit-Remaining" in exposed
    assert "Retry-After" in exposed
    assert "Idempotent-Replayed" in exposed
    assert refused.status_code == 401
    assert refused.headers["access-control-allow-origin"] == "*"


async def test_explicit_origins_are_echoed_with_credentials_and_others_refused(
    database_url: str, tmp_path: Path
) -> None:
    async with client_for(database_url, tmp_path, CORS_ORIGINS=f"{PAGE}/, https://admin.example.com") as client:
        allowed = await client.get("/health", headers={"Origin": PAGE})
        other = await client.get("/health", headers={"Origin": "https://evil.example.net"})
        preflight = await client.options("/api/workflows/any/execute", headers=PREFLIGHT)
        foreign_preflight = await client.options(
            "/api/workflows/any/execute", headers={**PREFLIGHT, "Origin": "https://evil.example.net"}
        )

    assert allowed.headers["access-control-allow-origin"] == PAGE
    assert allowed.headers["access-control-allow-credentials"] == "true"
    assert "access-control-allow-origin" not in other.headers
    assert preflight.status_code == 200
    assert preflight.headers["access-control-allow-origin"] == PAGE
    assert foreign_preflight.status_code == 400
    assert "access-control-allow-origin" not in foreign_preflight.headers


async def test_a_web_page_of_another_origin_gets_no_loopback_trust_for_management(
    database_url: str, tmp_path: Path
) -> None:
    async with client_for(database_url, tmp_path, CORS_ORIGINS="*") as client:
        body = {"name": "Sneaky", "workflow": HELLO_WORLD}
        from_page = await client.post("/api/deploy", json=body, headers={"Origin": PAGE})
        listing = await client.get("/api/deployments", headers={"Origin": "null"})
        same_origin = await client.post("/api/deploy", json=body, headers={"Origin": "http://localhost"})
        local_tool = await client.post("/api/deploy", json=body)

    assert from_page.status_code == 401
    assert from_page.json()["code"] == "admin_key_required"
    assert listing.status_code == 401
    assert same_origin.status_code == 201
    assert local_tool.status_code == 201
