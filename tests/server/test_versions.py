"""Versions: PUT deploys a new one under the same slug and keys, rollback moves the current pointer,
X-Workflow-Version pins one, and every response and record names the version that ran."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from openapi_spec_validator import validate

from clara_runner.server.app import create_app
from tests.support import HELLO_WORLD, REMOTE_CLIENT, asgi_client, bearer, deploy, make_settings

GREETER: dict[str, Any] = {
    "nodes": [
        {"id": "input-1", "type": "input", "data": {"label": "Name"}},
        {"id": "hello", "type": "static-text", "data": {"text": "Hello"}},
        {"id": "join", "type": "combine-text", "data": {"combineMode": "concat", "addSpaces": True}},
        {"id": "output-1", "type": "output", "data": {"outputLabel": "Greeting"}},
    ],
    "connections": [
        {"source": "hello", "target": "join", "sourceHandle": "text", "targetHandle": "text1"},
        {"source": "input-1", "target": "join", "sourceHandle": "output", "targetHandle": "text2"},
        {"source": "join", "target": "output-1", "sourceHandle": "combined", "targetHandle": "input"},
    ],
}


async def _run(client: httpx2.AsyncClient, key: str, version: str | None = None) -> httpx2.Response:
    headers = bearer(key) | ({"X-Workflow-Version": version} if version is not None else {})
    return await client.post("/api/workflows/hello-world/execute", json={"name": "Alice"}, headers=headers)


async def _history(client: httpx2.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await client.get("/api/workflows/hello-world/executions", headers=bearer(key))
    assert response.status_code == 200, response.text
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


async def test_second_deploy_makes_version_2_and_rollback_returns_to_version_1(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    first = await _run(client, key)
    assert first.json()["outputs"] == {"greeting": "Alice"}
    assert first.json()["metadata"]["version"] == 1

    put = await client.put("/api/workflows/hello-world", json={"workflow": GREETER})
    assert put.status_code == 200, put.text
    body = put.json()["deployment"]
    assert (body["version"], body["previousVersion"], body["slug"]) == (2, 1, "hello-world")
    assert body["schema"]["metadata"]["nodeCount"] == 4
    assert "apiKey" not in body

    second = await _run(client, key)
    assert second.json()["outputs"] == {"greeting": "Hello Alice"}
    assert second.json()["metadata"]["version"] == 2
    details = (await client.get("/api/workflows/hello-world")).json()["workflow"]
    assert details["version"] == 2
    assert details["schema"]["openapi"]["info"]["version"] == "2"
    assert details["schema"]["metadata"]["nodeCount"] == 4
    listed = (await client.get("/api/deployments")).json()["deployments"]
    assert [item["version"] for item in listed] == [2]

    rollback = await client.post("/api/workflows/hello-world/rollback")
    assert rollback.status_code == 200, rollback.text
    assert rollback.json()["workflow"] | {"updatedAt": None} == {
        "id": body["id"],
        "slug": "hello-world",
        "version": 1,
        "previousVersion": 2,
        "updatedAt": None,
    }
    third = await _run(client, key)
    assert third.json()["outputs"] == {"greeting": "Alice"}
    assert third.json()["metadata"]["version"] == 1
    assert (await client.get("/api/workflows/hello-world")).json()["workflow"]["version"] == 1

    versions = (await client.get("/api/workflows/hello-world/versions")).json()
    assert versions["currentVersion"] == 1
    assert [(item["version"], item["isCurrent"], item["nodeCount"]) for item in versions["versions"]] == [
        (2, False, 4),
        (1, True, 2),
    ]
    assert versions["versions"][0]["outputs"] == ["greeting"]
    assert [item["version"] for item in await _history(client, key)] == [1, 2, 1]

    again = await client.put("/api/workflows/hello-world", json={"workflow": GREETER})
    assert again.json()["deployment"]["version"] == 3
    assert again.json()["deployment"]["previousVersion"] == 1


async def test_pinned_version_runs_that_version_and_is_recorded(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    assert (await client.put("/api/workflows/hello-world", json={"workflow": GREETER})).status_code == 200

    pinned = await _run(client, key, "1")
    assert pinned.status_code == 200, pinned.text
    assert pinned.json()["outputs"] == {"greeting": "Alice"}
    assert pinned.json()["metadata"]["version"] == 1
    current = await _run(client, key)
    assert current.json()["metadata"]["version"] == 2
    assert [(item["version"], item["outputs"]) for item in await _history(client, key)] == [
        (2, {"greeting": "Hello Alice"}),
        (1, {"greeting": "Alice"}),
    ]

    unknown = await _run(client, key, "9")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "version_not_found"
    assert unknown.json()["version"] == 9
    recorded = (await _history(client, key))[0]
    assert (recorded["version"], recorded["status"], recorded["errorCode"]) == (9, "error", "version_not_found")

    for malformed in ("abc", "0", "-1", "1.5", "", "2 3", "12345678901"):
        response = await _run(client, key, malformed)
        assert response.status_code == 400, malformed
        assert response.json()["code"] == "invalid_workflow_version"
        assert "X-Workflow-Version" in response.json()["message"]
    recorded = (await _history(client, key))[0]
    assert (recorded["version"], recorded["errorCode"]) == (2, "invalid_workflow_version")


async def test_rollback_names_a_version_or_says_why_it_cannot(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    refused = await client.post("/api/workflows/hello-world/rollback")
    assert refused.status_code == 409
    assert refused.json()["code"] == "no_earlier_version"

    for _ in range(2):
        assert (await client.put("/api/workflows/hello-world", json={"workflow": GREETER})).status_code == 200
    to_first = await client.post("/api/workflows/hello-world/rollback", json={"version": 1})
    assert to_first.json()["workflow"]["version"] == 1
    forward = await client.post("/api/workflows/hello-world/rollback", json={"version": 3})
    assert (forward.json()["workflow"]["version"], forward.json()["workflow"]["previousVersion"]) == (3, 1)
    same = await client.post("/api/workflows/hello-world/rollback", json={"version": 3})
    assert same.status_code == 200
    assert same.json()["workflow"]["version"] == 3

    missing = await client.post("/api/workflows/hello-world/rollback", json={"version": 7})
    assert missing.status_code == 404
    assert missing.json()["code"] == "version_not_found"
    for bad in ({"version": "2"}, {"version": 0}, {"version": True}, {"version": 1.5}, {"other": 1}, [1]):
        response = await client.post("/api/workflows/hello-world/rollback", json=bad)
        assert response.status_code == 400, bad
        assert response.json()["code"] == "validation_failed"
    unknown = await client.post("/api/workflows/no-such-flow/rollback")
    assert unknown.status_code == 404
    assert unknown.json()["code"] == "workflow_not_found"
    assert (await client.get("/api/workflows/hello-world")).json()["workflow"]["version"] == 3


async def test_a_new_version_passes_the_deploy_checks_and_keeps_slug_and_keys(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    broken = {"nodes": [{"id": "x", "type": "no-such-type", "data": {}}], "connections": []}
    invalid = await client.put("/api/workflows/hello-world", json={"workflow": broken})
    assert invalid.status_code == 400
    assert invalid.json()["code"] == "invalid_workflow"
    assert any("no-such-type" in problem for problem in invalid.json()["validationErrors"])

    for body, problem in (
        ({}, "workflow is required"),
        ({"workflow": GREETER, "slug": "other"}, "slug cannot be changed"),
        ({"workflow": GREETER, "name": ""}, "name must be"),
        ({"workflow": GREETER, "description": 5}, "description must be"),
    ):
        response = await client.put("/api/workflows/hello-world", json=body)
        assert response.status_code == 400, body
        assert any(problem in item for item in response.json()["validationErrors"]), response.json()
    not_json = await client.put("/api/workflows/hello-world", content=b"{oops")
    assert not_json.json()["code"] == "malformed_json"
    versions = (await client.get("/api/workflows/hello-world/versions")).json()["versions"]
    assert [item["version"] for item in versions] == [1]

    twins = {
        "nodes": [
            {"id": "a", "type": "input", "data": {"label": "Name"}},
            {"id": "b", "type": "input", "data": {"label": "Name"}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Greeting"}},
        ],
        "connections": [{"source": "a", "target": "out", "sourceHandle": "output", "targetHandle": "input"}],
    }
    renamed = await client.put(
        "/api/workflows/hello-world",
        json={"workflow": twins, "name": "Hello Twins", "slug": "hello-world", "description": "Two names"},
    )
    assert renamed.status_code == 200, renamed.text
    deployment = renamed.json()["deployment"]
    assert (deployment["name"], deployment["description"], deployment["version"]) == ("Hello Twins", "Two names", 2)
    renaming, unconnected = deployment["warnings"]
    assert "name2" in renaming
    assert unconnected.startswith("Input field 'name2' (node 'b') is connected to nothing")
    assert set(deployment["schema"]["input"]["properties"]) == {"name", "name2"}
    response = await client.post(
        "/api/workflows/hello-world/execute", json={"name": "A", "name2": "B"}, headers=bearer(key)
    )
    assert response.json()["outputs"] == {"greeting": "A"}
    assert response.json()["metadata"]["workflow"]["name"] == "Hello Twins"


async def test_concurrent_new_versions_get_consecutive_numbers(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    responses = await asyncio.gather(
        *(client.put("/api/workflows/hello-world", json={"workflow": GREETER}) for _ in range(4))
    )
    assert [response.status_code for response in responses] == [200] * 4
    assert sorted(response.json()["deployment"]["version"] for response in responses) == [2, 3, 4, 5]
    listed = (await client.get("/api/workflows/hello-world/versions")).json()
    assert [item["version"] for item in listed["versions"]] == [5, 4, 3, 2, 1]
    assert listed["currentVersion"] in {2, 3, 4, 5}


async def test_versions_list_is_paginated(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    for _ in range(2):
        await client.put("/api/workflows/hello-world", json={"workflow": GREETER})
    first = (await client.get("/api/workflows/hello-world/versions", params={"limit": 2})).json()
    assert [item["version"] for item in first["versions"]] == [3, 2]
    assert first["pagination"] == {"limit": 2, "offset": 0, "hasMore": True}
    rest = (await client.get("/api/workflows/hello-world/versions", params={"limit": 2, "offset": 2})).json()
    assert [item["version"] for item in rest["versions"]] == [1]
    assert rest["pagination"]["hasMore"] is False
    bad = await client.get("/api/workflows/hello-world/versions", params={"limit": 0})
    assert bad.status_code == 400
    assert bad.json()["code"] == "validation_failed"


async def test_the_deployment_key_manages_its_own_versions_only(
    client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient
) -> None:
    own = (await deploy(client))["apiKey"]
    other = (await deploy(client, name="Other"))["apiKey"]

    for method, path in (
        ("PUT", "/api/workflows/hello-world"),
        ("GET", "/api/workflows/hello-world/versions"),
        ("POST", "/api/workflows/hello-world/rollback"),
    ):
        body = {"workflow": GREETER} if method == "PUT" else None
        anonymous = await remote_client.request(method, path, json=body)
        assert anonymous.status_code == 401, path
        assert anonymous.json()["code"] == "missing_authorization"
        foreign = await remote_client.request(method, path, json=body, headers=bearer(other))
        assert foreign.status_code == 403, path
        assert foreign.json()["code"] == "access_denied"
        forged = await remote_client.request(method, path, json=body, headers=bearer("clara_sk_" + "x" * 40))
        assert forged.status_code == 401, path

    put = await remote_client.put("/api/workflows/hello-world", json={"workflow": GREETER}, headers=bearer(own))
    assert put.json()["deployment"]["version"] == 2
    listed = await remote_client.get("/api/workflows/hello-world/versions", headers=bearer(own))
    assert listed.json()["currentVersion"] == 2
    back = await remote_client.post("/api/workflows/hello-world/rollback", headers=bearer(own))
    assert back.json()["workflow"]["version"] == 1


@pytest.fixture
async def admin_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    """A remote client of a server that has an admin key."""
    application = create_app(make_settings(database_url, tmp_path / "data", CLARA_ADMIN_KEY="admin-secret"))
    async with application.router.lifespan_context(application), asgi_client(application, REMOTE_CLIENT) as http:
        yield http


async def test_the_admin_key_manages_versions_from_anywhere(admin_client: httpx2.AsyncClient) -> None:
    admin = bearer("admin-secret")
    deploy_body = {"name": "Hello World", "workflow": HELLO_WORLD}
    response = await admin_client.post("/api/deploy", json=deploy_body, headers=admin)
    assert response.status_code == 201
    assert (await admin_client.put("/api/workflows/hello-world", json={"workflow": GREETER})).status_code == 401
    wrong = await admin_client.put("/api/workflows/hello-world", json={"workflow": GREETER}, headers=bearer("nope"))
    assert wrong.status_code == 401
    put = await admin_client.put("/api/workflows/hello-world", json={"workflow": GREETER}, headers=admin)
    assert put.json()["deployment"]["version"] == 2
    back = await admin_client.post("/api/workflows/hello-world/rollback", json={"version": 1}, headers=admin)
    assert back.json()["workflow"]["version"] == 1
    missing = await admin_client.get("/api/workflows/nothing-here/versions", headers=admin)
    assert missing.status_code == 404


async def test_management_document_describes_the_version_endpoints(client: httpx2.AsyncClient) -> None:
    document = (await client.get("/api/openapi.json")).json()
    validate(document)
    paths = document["paths"]
    assert "put" in paths["/api/workflows/{slug}"]
    assert paths["/api/workflows/{slug}"]["put"]["requestBody"]["content"]["application/json"]["schema"][
        "required"
    ] == ["workflow"]
    assert "get" in paths["/api/workflows/{slug}/versions"]
    assert "409" in paths["/api/workflows/{slug}/rollback"]["post"]["responses"]
    info = (await client.get("/api/info")).json()["endpoints"]
    assert "POST /api/workflows/:slug/rollback" in info


async def test_a_new_version_can_change_the_traffic_options(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    put = await client.put(
        "/api/workflows/hello-world",
        json={"workflow": HELLO_WORLD, "rateLimit": {"maxRequests": 7, "windowMs": 60000}, "maxConcurrency": 2},
    )
    assert put.status_code == 200, put.text
    assert put.json()["deployment"]["maxConcurrency"] == 2
    details = (await client.get("/api/workflows/hello-world")).json()["workflow"]
    assert details["rateLimit"] == {"maxRequests": 7, "windowMs": 60000}
    assert details["maxConcurrency"] == 2
    refused = await client.put("/api/workflows/hello-world", json={"workflow": HELLO_WORLD, "maxConcurrency": 0})
    assert refused.status_code == 400
    assert any("maxConcurrency" in problem for problem in refused.json()["validationErrors"])


async def test_the_retry_policy_of_a_deployment_is_set_by_deploy_and_update(client: httpx2.AsyncClient) -> None:
    deployed = await deploy(client)
    assert deployed["retryPolicy"] == "unstarted"
    put = await client.put("/api/workflows/hello-world", json={"workflow": HELLO_WORLD, "retryPolicy": "always"})
    assert put.status_code == 200, put.text
    assert put.json()["deployment"]["retryPolicy"] == "always"
    assert (await client.get("/api/workflows/hello-world")).json()["workflow"]["retryPolicy"] == "always"
    reset = await client.put("/api/workflows/hello-world", json={"workflow": HELLO_WORLD, "retryPolicy": None})
    assert reset.json()["deployment"]["retryPolicy"] == "unstarted"
    refused = await client.put("/api/workflows/hello-world", json={"workflow": HELLO_WORLD, "retryPolicy": "twice"})
    assert (refused.status_code, refused.json()["code"]) == (400, "validation_failed")
    assert "retryPolicy must be one of unstarted, always, never, or null" in refused.json()["validationErrors"]


async def test_a_new_version_is_held_to_the_deploy_size_limits(database_url: str, tmp_path: Path) -> None:
    app = create_app(make_settings(database_url, tmp_path, MAX_WORKFLOW_NODES=3))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        await deploy(client)
        response = await client.put("/api/workflows/hello-world", json={"workflow": GREETER})
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_workflow"
    assert "3" in response.json()["validationErrors"][0]


async def test_only_the_admin_changes_traffic_options_with_a_new_version(
    client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient
) -> None:
    own = (await deploy(client, rateLimit={"maxRequests": 5}, maxConcurrency=2))["apiKey"]
    for lifted in ({"rateLimit": {"enabled": False}}, {"maxConcurrency": None}, {"rateLimit": None}):
        refused = await remote_client.put(
            "/api/workflows/hello-world", json={"workflow": GREETER, **lifted}, headers=bearer(own)
        )
        assert (refused.status_code, refused.json()["code"]) == (403, "access_denied"), lifted
        assert "Only the admin" in refused.json()["message"]
    shipped = await remote_client.put("/api/workflows/hello-world", json={"workflow": GREETER}, headers=bearer(own))
    assert shipped.status_code == 200
    assert shipped.json()["deployment"]["rateLimit"] == {"maxRequests": 5}
    assert shipped.json()["deployment"]["maxConcurrency"] == 2
    lifted_by_admin = await client.put("/api/workflows/hello-world", json={"workflow": GREETER, "maxConcurrency": None})
    assert lifted_by_admin.json()["deployment"]["maxConcurrency"] is None
