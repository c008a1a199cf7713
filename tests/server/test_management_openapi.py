"""The management API's document: valid, complete, and true to the responses the server sends."""

from __future__ import annotations

from typing import Any

import httpx2

from clara_runner.server.app import create_app
from clara_runner.service.execution.history import EXECUTION_STATUSES
from clara_runner.settings import Settings
from tests.openapi_checks import check_document, schema_errors
from tests.support import bearer, deploy


async def management_document(client: httpx2.AsyncClient) -> dict[str, Any]:
    response = await client.get("/api/openapi.json")
    assert response.status_code == 200
    document: dict[str, Any] = response.json()
    return document


def assert_documented(document: dict[str, Any], method: str, path: str, response: httpx2.Response) -> None:
    operation = document["paths"][path][method]
    status = str(response.status_code)
    assert status in operation["responses"], f"{method} {path} answered undocumented {status}: {response.text}"
    content = operation["responses"][status]["content"]
    media_type = response.headers["content-type"].split(";")[0]
    assert media_type in content, f"{method} {path} {status} answered {media_type}"
    if media_type == "application/json":
        assert schema_errors(document, content[media_type]["schema"], response.json()) == []


async def test_document_is_valid_and_every_operation_is_fully_described(client: httpx2.AsyncClient) -> None:
    document = await management_document(client)
    check_document(document)
    assert document["openapi"].startswith("3.1")
    assert set(document["components"]["securitySchemes"]) == {"adminKey", "apiKey"}
    assert "HTTPValidationError" not in document["components"]["schemas"]
    operations = [
        (path, method, operation) for path, item in document["paths"].items() for method, operation in item.items()
    ]
    assert len(operations) == 30
    for path, method, operation in operations:
        assert "security" in operation, (method, path)
        statuses = operation["responses"]
        success = [status for status in statuses if status.startswith("2")]
        assert len(success) == (2 if path.endswith(("/execute", "/cancel")) else 1), (method, path)
        assert all(statuses[status]["content"] for status in success), (method, path)
        for status, response in statuses.items():
            if status.startswith(("4", "5")) and path != "/health":
                assert response["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/Error"}
    deploy_body = document["paths"]["/api/deploy"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert {"name", "workflow", "allowUnknownFields"} <= set(deploy_body["properties"])
    assert document["paths"]["/api/deploy"]["post"]["security"] == [{"adminKey": []}]


async def test_every_management_response_matches_the_document(
    client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient
) -> None:
    document = await management_document(client)
    deployment = await deploy(client)
    key, identifier = deployment["apiKey"], deployment["id"]
    await client.post("/api/workflows/hello-world/execute", json={"name": "Ada"}, headers=bearer(key))
    calls = [
        ("get", "/health", await client.get("/health")),
        ("get", "/api/info", await client.get("/api/info")),
        (
            "post",
            "/api/deploy",
            await client.post("/api/deploy", json={"name": "Second", "workflow": deployment_flow()}),
        ),
        ("post", "/api/deploy", await client.post("/api/deploy", json={"name": "", "workflow": {}})),
        ("post", "/api/deploy", await remote_client.post("/api/deploy", json={"name": "x", "workflow": {}})),
        ("get", "/api/deployments", await client.get("/api/deployments", params={"limit": "1"})),
        ("get", "/api/deployments", await client.get("/api/deployments", params={"limit": "abc"})),
        ("get", "/api/workflows/{slug}", await client.get("/api/workflows/hello-world")),
        ("get", "/api/workflows/{slug}", await client.get("/api/workflows/Not_A_Slug")),
        ("get", "/api/workflows/{slug}", await client.get("/api/workflows/missing")),
        ("get", "/api/workflows/{slug}/schema", await client.get("/api/workflows/hello-world/schema")),
        ("get", "/api/workflows/{slug}/openapi.json", await client.get("/api/workflows/missing/openapi.json")),
        ("get", "/api/workflows/{slug}/docs", await client.get("/api/workflows/hello-world/docs")),
        ("get", "/api/workflows/{slug}/redoc", await client.get("/api/workflows/hello-world/redoc")),
        ("get", "/api/workflows/{slug}/docs", await client.get("/api/workflows/missing/docs")),
        ("post", "/api/workflows/{slug}/execute", await client.post("/api/workflows/hello-world/execute", json={})),
        (
            "get",
            "/api/workflows/{slug}/executions",
            await client.get("/api/workflows/hello-world/executions", headers=bearer(key)),
        ),
        (
            "get",
            "/api/workflows/{slug}/executions",
            await client.get("/api/workflows/hello-world/executions", params={"status": "x"}),
        ),
        (
            "get",
            "/api/workflows/{slug}/usage",
            await client.get("/api/workflows/hello-world/usage", headers=bearer(key)),
        ),
        (
            "get",
            "/api/workflows/{slug}/usage",
            await client.get("/api/workflows/hello-world/usage", params={"period": "week"}),
        ),
        ("put", "/api/workflows/{slug}", await client.put("/api/workflows/hello-world", json={"workflow": {}})),
        (
            "put",
            "/api/workflows/{slug}",
            await client.put("/api/workflows/hello-world", json={"workflow": deployment_flow(), "maxConcurrency": 3}),
        ),
        ("get", "/api/workflows/{slug}/versions", await client.get("/api/workflows/hello-world/versions")),
        ("post", "/api/workflows/{slug}/rollback", await client.post("/api/workflows/hello-world/rollback", json={})),
        ("post", "/api/workflows/{slug}/rollback", await client.post("/api/workflows/hello-world/rollback", json={})),
        (
            "post",
            "/api/workflows/{deployment_id}/regenerate-key",
            await client.post(f"/api/workflows/{identifier}/regenerate-key"),
        ),
        (
            "post",
            "/api/workflows/{deployment_id}/regenerate-key",
            await client.post("/api/workflows/nope/regenerate-key"),
        ),
        ("delete", "/api/workflows/{slug}", await client.delete(f"/api/workflows/{identifier}")),
        ("delete", "/api/workflows/{slug}", await client.delete(f"/api/workflows/{identifier}")),
    ]
    statuses = [response.status_code for *_, response in calls]
    assert statuses == [
        200,
        200,
        201,
        400,
        401,
        200,
        400,
        200,
        400,
        404,
        200,
        404,
        200,
        200,
        404,
        401,
        200,
        400,
        200,
        400,
        400,
        200,
        200,
        200,
        409,
        200,
        400,
        200,
        404,
    ]
    for method, path, response in calls:
        assert_documented(document, method, path, response)


async def test_stats_and_key_responses_match_the_document(client: httpx2.AsyncClient) -> None:
    document = await management_document(client)
    deployment = await deploy(client)
    await client.post("/api/workflows/hello-world/execute", json={"name": "Ada"}, headers=bearer(deployment["apiKey"]))
    created = await client.post(
        "/api/workflows/hello-world/keys", json={"name": "ci", "expiresAt": "2999-01-01T00:00:00Z"}
    )
    keys = "/api/workflows/{slug}/keys"
    calls = [
        ("get", "/api/workflows/{slug}/stats", await client.get("/api/workflows/hello-world/stats")),
        ("get", "/api/workflows/{slug}/stats", await client.get("/api/workflows/hello-world/stats?bucket=week")),
        ("get", "/api/deployments", await client.get("/api/deployments")),
        ("post", keys, created),
        ("post", keys, await client.post("/api/workflows/hello-world/keys", json={})),
        ("get", keys, await client.get("/api/workflows/hello-world/keys")),
        (
            "delete",
            keys + "/{keyId}",
            await client.delete(f"/api/workflows/hello-world/keys/{created.json()['key']['id']}"),
        ),
        ("delete", keys + "/{keyId}", await client.delete("/api/workflows/hello-world/keys/nope")),
        (
            "post",
            "/api/workflows/{deployment_id}/regenerate-key",
            await client.post(f"/api/workflows/{deployment['id']}/regenerate-key", json={"overlapSeconds": 60}),
        ),
    ]
    assert [response.status_code for *_, response in calls] == [200, 400, 200, 201, 400, 200, 200, 400, 200]
    for method, path, response in calls:
        assert_documented(document, method, path, response)


def deployment_flow() -> dict[str, Any]:
    return {
        "nodes": [{"id": "i", "type": "input", "data": {}}, {"id": "o", "type": "output", "data": {}}],
        "connections": [{"source": "i", "target": "o"}],
    }


async def test_management_docs_pages_load_local_assets_under_a_strict_policy(client: httpx2.AsyncClient) -> None:
    for path in ("/api/docs", "/api/redoc"):
        response = await client.get(path)
        assert response.status_code == 200
        assert "script-src 'self'" in response.headers["content-security-policy"]
        assert "/api/openapi.json" in response.text
        assert "<script>" not in response.text


async def test_query_parameters_are_typed_as_the_server_parses_them(client: httpx2.AsyncClient) -> None:
    """`limit`, `offset` and `status` arrive as text (a bad one is a 400 with the Error body), but the
    document declares what is accepted: integers with their bounds, and the execution statuses."""
    document = await management_document(client)
    listings = [
        (path, {parameter["name"]: parameter["schema"] for parameter in item["get"].get("parameters", [])})
        for path, item in document["paths"].items()
        if "get" in item and any(parameter["name"] == "limit" for parameter in item["get"].get("parameters", []))
    ]
    assert len(listings) == 5
    for path, parameters in listings:
        assert parameters["limit"] | {"title": "Limit"} == {
            "type": "integer",
            "minimum": 1,
            "maximum": 1000,
            "title": "Limit",
        }, path
        assert parameters["offset"]["type"] == "integer", path
        assert parameters["offset"]["minimum"] == 0, path
    history = dict(listings)["/api/workflows/{slug}/executions"]
    assert history["status"]["enum"] == list(EXECUTION_STATUSES)
    refused = await client.get("/api/deployments", params={"limit": "two", "offset": "-1"})
    assert refused.status_code == 400
    assert refused.json()["validationErrors"] == [
        "limit must be a positive integer",
        "offset must be a non-negative integer",
    ]


async def test_the_document_names_its_server(client: httpx2.AsyncClient, settings: Settings) -> None:
    """`/` (the server the document came from) by default, `BASE_URL` when it is set."""
    assert (await management_document(client))["servers"] == [{"url": "/", "description": "This Clara Agent Runner"}]
    configured = create_app(settings.model_copy(update={"base_url": "https://api.example.com/"}))
    assert configured.openapi()["servers"] == [
        {"url": "https://api.example.com", "description": "This Clara Agent Runner"}
    ]
