from __future__ import annotations

import re
from pathlib import Path

import httpx2
from openapi_spec_validator import validate

from clara_runner.server.app import create_app
from tests.support import REDIS_URL, asgi_client, deploy, free_port, make_settings


async def test_health_reports_a_connected_database_and_no_configuration(client: httpx2.AsyncClient) -> None:
    response = await client.get("/health")
    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["service"], body["database"]) == ("healthy", "Clara Agent Runner", "connected")
    assert set(body) == {"status", "service", "version", "timestamp", "uptime", "database"}


async def test_health_reports_redis_when_it_counts_the_rate_limits(database_url: str, tmp_path: Path) -> None:
    for redis_url, status, state in (
        (REDIS_URL, 200, "connected"),
        (f"redis://127.0.0.1:{free_port()}/0", 503, "disconnected"),
    ):
        app = create_app(make_settings(database_url, tmp_path, REDIS_URL=redis_url))
        async with app.router.lifespan_context(app), asgi_client(app) as client:
            response = await client.get("/health")
        assert (response.status_code, response.json()["redis"], response.json()["database"]) == (
            status,
            state,
            "connected",
        )
        assert str(redis_url.rsplit(":", 1)[1]) not in response.text


async def test_health_is_503_when_the_database_is_unreachable_and_names_no_host(tmp_path: Path) -> None:
    port = free_port()
    url = f"postgresql://clara:hunter2@127.0.0.1:{port}/clara_workflows"
    app = create_app(make_settings(url, tmp_path, OPENAI_API_KEY="sk-live-planted"))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        response = await client.get("/health")
    assert response.status_code == 503
    assert response.json()["database"] == "disconnected"
    for leak in ("127.0.0.1", str(port), "hunter2", "clara_workflows", "sk-live-planted", "openai"):
        assert leak not in response.text


async def test_every_link_in_api_info_exists(client: httpx2.AsyncClient) -> None:
    body = (await client.get("/api/info")).json()
    for link in (body["documentation"], body["openapi"]):
        assert (await client.get(link)).status_code == 200, link
    assert "POST /api/workflows/:slug/execute" in body["endpoints"]


async def test_management_openapi_is_valid_and_lists_the_seed_endpoints(client: httpx2.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    validate(document)
    assert {"/api/deploy", "/api/deployments", "/api/workflows/{slug}/execute", "/health"} <= set(document["paths"])


async def test_unknown_routes_and_methods_get_the_error_envelope(client: httpx2.AsyncClient) -> None:
    missing = await client.get("/api/nothing-here")
    assert missing.status_code == 404
    body = missing.json()
    assert (body["code"], body["error"]) == ("endpoint_not_found", "Endpoint not found")
    assert body["message"] == "The endpoint GET /api/nothing-here does not exist"
    wrong = await client.put("/api/deploy")
    assert (wrong.status_code, wrong.json()["code"]) == (405, "method_not_allowed")


async def test_slugs_are_checked(client: httpx2.AsyncClient) -> None:
    response = await client.get("/api/workflows/Not_A_Slug")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_slug")
    assert response.json()["error"] == "Invalid slug format"


async def test_details_carry_the_schema_and_openapi(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    body = (await client.get("/api/workflows/hello-world")).json()
    workflow = body["workflow"]
    assert workflow["id"] == deployment["id"]
    assert workflow["endpoint"] == deployment["endpoint"]
    assert workflow["schema"]["input"] == deployment["schema"]["input"]
    assert workflow["schema"]["openapi"]["openapi"] == "3.1.0"
    assert "apiKey" not in str(workflow)
    assert (await client.get("/api/workflows/nope")).json()["code"] == "workflow_not_found"


async def test_schema_is_a_valid_openapi_31_document_named_after_the_deployment(client: httpx2.AsyncClient) -> None:
    await deploy(client, name="Greeter Service")
    document = (await client.get("/api/workflows/greeter-service/schema")).json()
    validate(document)
    assert document["info"]["title"] == "Greeter Service"
    operation = document["paths"]["/api/workflows/greeter-service/execute"]["post"]
    assert operation["requestBody"]["content"]["application/json"]["examples"]["default"]["value"] == {
        "name": "example text"
    }
    assert document == (await client.get("/api/workflows/greeter-service/openapi.json")).json()


async def test_docs_page_escapes_the_name_and_loads_only_local_assets(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client, name="<script>alert(1)</script>")
    page = await client.get(f"/api/workflows/{deployment['slug']}/docs")
    assert page.status_code == 200
    assert "<script>alert(1)</script>" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert "script-src 'self'" in page.headers["Content-Security-Policy"]
    assets = re.findall(r'(?:src|href)="([^"]+)"', page.text)
    assert assets
    for asset in assets:
        assert asset.startswith("/"), asset
        assert (await client.get(asset)).status_code == 200, asset
