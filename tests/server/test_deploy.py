from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.server.app import create_app
from tests.support import HELLO_WORLD, asgi_client, bearer, deploy, make_settings


async def test_deploy_answers_201_with_the_seed_shape(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/api/deploy", json={"name": "Hello World", "description": "Greets", "workflow": HELLO_WORLD}
    )
    assert response.status_code == 201
    body = response.json()
    assert body["success"] is True
    assert body["message"] == "Workflow deployed successfully. Save the API key - it will not be shown again!"
    deployment = body["deployment"]
    assert deployment["name"] == "Hello World"
    assert deployment["slug"] == "hello-world"
    assert deployment["description"] == "Greets"
    assert deployment["endpoint"] == "http://localhost/api/workflows/hello-world/execute"
    assert deployment["docs"] == "http://localhost/api/workflows/hello-world/docs"
    assert deployment["apiKey"].startswith("clara_sk_")
    assert deployment["version"] == 1
    assert deployment["createdAt"].endswith("Z")
    assert set(deployment["schema"]) == {"input", "output", "metadata", "options"}
    assert deployment["schema"]["input"]["required"] == ["name"]
    assert deployment["schema"]["metadata"] == {"nodeCount": 2, "connectionCount": 1, "hasCustomNodes": False}


async def test_field_validation_reports_every_problem_in_the_originals_words(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/api/deploy", json={"name": " ", "slug": "Bad Slug", "description": 5, "userId": ["x"]}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["error"] == "Validation failed"
    assert body["validationErrors"] == [
        "name is required and must be a non-empty string",
        "slug must contain only lowercase letters, numbers, and hyphens",
        "description must be a string",
        "userId must be a string of 255 characters or less",
        "workflow is required",
    ]


async def test_an_undeployable_workflow_lists_every_problem(client: httpx2.AsyncClient) -> None:
    workflow = {
        "nodes": [
            {"id": "a", "type": "input"},
            {"id": "b", "type": "mystery"},
            {"id": "c", "type": "json-parse"},
            {"id": "d", "type": "json-parse"},
        ],
        "connections": [
            {"source": "c", "target": "d"},
            {"source": "d", "target": "c"},
            {"source": "a", "target": "zz"},
        ],
    }
    response = await client.post("/api/deploy", json={"name": "Broken", "workflow": workflow})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "invalid_workflow"
    problems = body["validationErrors"]
    assert any("unknown node type 'mystery'" in p for p in problems)
    assert any(p.startswith("cycle between nodes 'c' -> 'd' -> 'c'") for p in problems)
    assert any("target node 'zz' does not exist" in p for p in problems)
    assert any("no output node" in p for p in problems)
    assert body["message"].startswith("The workflow cannot be deployed: ")
    assert (await client.get("/api/deployments")).json()["deployments"] == []


async def test_malformed_json_is_a_400(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/api/deploy", content=b'{"name": "x", "workflow": ', headers={"Content-Type": "application/json"}
    )
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "malformed_json"
    assert "line 1 column" in body["message"]
    assert set(body) >= {"success", "error", "message", "code", "timestamp"}


async def test_a_body_over_max_input_size_is_a_413(tmp_path: Path, database_url: str) -> None:
    app = create_app(make_settings(database_url, tmp_path, MAX_INPUT_SIZE=1000))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        response = await client.post("/api/deploy", json={"name": "x" * 2000, "workflow": HELLO_WORLD})
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    assert response.json()["maxSize"] == 1000


async def test_an_explicit_slug_that_is_taken_is_refused(client: httpx2.AsyncClient) -> None:
    await deploy(client, slug="greeter")
    response = await client.post("/api/deploy", json={"name": "Other", "slug": "greeter", "workflow": HELLO_WORLD})
    assert response.status_code == 400
    assert response.json()["code"] == "slug_taken"
    assert "'greeter' is already taken" in response.json()["message"]


async def test_same_names_get_numbered_slugs(client: httpx2.AsyncClient) -> None:
    slugs = [(await deploy(client))["slug"] for _ in range(3)]
    assert slugs == ["hello-world", "hello-world-1", "hello-world-2"]


async def test_a_taken_slug_is_a_warning_naming_both_slugs(client: httpx2.AsyncClient) -> None:
    assert (await deploy(client))["warnings"] == []
    second = await deploy(client)
    assert second["warnings"] == [
        "The slug 'hello-world' is already taken, so this deployment got 'hello-world-1': its endpoint is"
        " /api/workflows/hello-world-1/execute and this key works only there; to update 'hello-world' instead,"
        " deploy a new version of it (PUT /api/workflows/hello-world)"
    ]


async def test_a_bare_studio_export_is_told_how_to_wrap_it(client: httpx2.AsyncClient) -> None:
    response = await client.post("/api/deploy", json={"format": "clara-native", "version": "1.0.0", **HELLO_WORLD})
    assert response.status_code == 400
    body = response.json()
    assert body["code"] == "validation_failed"
    assert body["validationErrors"] == [
        'The body looks like a workflow export posted on its own; wrap it: {"name": "My API", "workflow": <the export>}'
    ]


async def test_an_input_connected_to_nothing_is_a_warning(client: httpx2.AsyncClient) -> None:
    workflow = {
        "nodes": [*HELLO_WORLD["nodes"], {"id": "stray", "type": "input", "data": {"label": "Stray"}}],
        "connections": HELLO_WORLD["connections"],
    }
    deployment = await deploy(client, workflow=workflow)
    assert deployment["warnings"] == [
        "Input field 'stray' (node 'stray') is connected to nothing: it is a required field of the API whose value"
        " no node uses; connect the node or delete it"
    ]


async def test_a_deleted_deployments_slug_can_be_deployed_again(client: httpx2.AsyncClient) -> None:
    first = await deploy(client, slug="reuse-me")
    assert (await client.delete(f"/api/workflows/{first['id']}")).status_code == 200
    second = await deploy(client, slug="reuse-me")
    assert second["slug"] == "reuse-me"
    assert second["id"] != first["id"]
    assert (await deploy(client, name="Reuse Me"))["slug"] == "reuse-me-1"


@pytest.mark.parametrize("name", ["!!!", "日本語のワークフロー", "🚀🚀"])
async def test_a_name_without_ascii_letters_still_gets_a_valid_slug(client: httpx2.AsyncClient, name: str) -> None:
    deployment = await deploy(client, name=name)
    assert deployment["slug"] == "workflow"
    assert deployment["name"] == name
    executed = await client.post(
        "/api/workflows/workflow/execute", json={"name": "x"}, headers=bearer(deployment["apiKey"])
    )
    assert executed.status_code == 200


async def test_concurrent_deploys_of_one_name_get_distinct_slugs(client: httpx2.AsyncClient) -> None:
    responses = await asyncio.gather(
        *(client.post("/api/deploy", json={"name": "Race", "workflow": HELLO_WORLD}) for _ in range(8))
    )
    assert [r.status_code for r in responses] == [201] * 8
    slugs = sorted(r.json()["deployment"]["slug"] for r in responses)
    assert slugs == sorted(["race", *(f"race-{i}" for i in range(1, 8))])


@pytest.mark.parametrize("path", ["clara-sdk", "template", "edges"])
async def test_every_workflow_dialect_deploys(client: httpx2.AsyncClient, path: str) -> None:
    flat: dict[str, Any] = dict(HELLO_WORLD)
    workflow: Any = {
        "clara-sdk": {"format": "clara-sdk", "flow": flat, "customNodes": []},
        "template": {"id": "t", "name": "T", "category": "c", "flow": flat},
        "edges": {"nodes": flat["nodes"], "edges": flat["connections"]},
    }[path]
    deployment = await deploy(client, workflow, name=path)
    executed = await client.post(
        f"/api/workflows/{deployment['slug']}/execute", json={"name": "Bo"}, headers=bearer(deployment["apiKey"])
    )
    assert executed.json()["outputs"] == {"greeting": "Bo"}
