from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.runtime.services import Runtime
from clara_runner.server.app import create_app
from clara_runner.server.replies import render_execution
from tests.flow.probes import probe_registry
from tests.support import asgi_client, bearer, deploy, make_settings

SLOW = {
    "nodes": [
        {"id": "i", "type": "input", "data": {"label": "Seconds", "inputType": "number"}},
        {"id": "s", "type": "probe-sleep", "data": {"seconds": 5}},
        {"id": "o", "type": "output", "data": {"outputLabel": "Done"}},
    ],
    "connections": [{"source": "i", "target": "s"}, {"source": "s", "target": "o"}],
}
FAILING: dict[str, Any] = {
    "nodes": [
        {"id": "i", "type": "input", "data": {"label": "X"}},
        {"id": "bad", "type": "probe-fail", "name": "Broken Step", "data": {"message": "upstream said no"}},
        {"id": "o", "type": "output", "data": {}},
    ],
    "connections": [{"source": "i", "target": "bad"}, {"source": "bad", "target": "o"}],
}


@pytest.fixture
async def probes(database_url: str, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    """A server whose registry also has the test-only probe node types, with a 300 ms run limit."""
    settings = make_settings(database_url, tmp_path, MAX_EXECUTION_TIME=300, MAX_INPUT_SIZE=2000)
    app = create_app(settings, Runtime.build(settings, registry=probe_registry(), render=render_execution))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        yield client


async def history(client: httpx2.AsyncClient, slug: str, key: str) -> list[dict[str, Any]]:
    response = await client.get(f"/api/workflows/{slug}/executions", headers=bearer(key))
    assert response.status_code == 200, response.text
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


async def test_success_has_the_seed_shape_and_is_recorded(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    response = await client.post(
        "/api/workflows/hello-world/execute", json={"name": "Alice"}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["success"] is True
    assert body["outputs"] == {"greeting": "Alice"}
    metadata = body["metadata"]
    assert metadata["duration"] == f"{metadata['durationMs']}ms"
    assert metadata["nodesExecuted"] == 2
    assert metadata["workflow"] == {"id": deployment["id"], "name": "Hello World", "slug": "hello-world"}
    assert metadata["version"] == 1
    (record,) = await history(client, "hello-world", deployment["apiKey"])
    assert record["id"] == metadata["executionId"]
    assert record["status"] == "success"
    assert record["inputs"] == {"name": "Alice"}
    assert record["outputs"] == {"greeting": "Alice"}
    assert [(step["nodeId"], step["status"]) for step in record["trace"]] == [
        ("input-1", "success"),
        ("output-1", "success"),
    ]


@pytest.mark.parametrize("falsy", [0, "", False])
async def test_falsy_inputs_reach_the_output(client: httpx2.AsyncClient, falsy: Any) -> None:
    workflow = {
        "nodes": [
            {"id": "i", "type": "input", "data": {"label": "V", "inputType": "json", "value": '"default"'}},
            {"id": "o", "type": "output", "data": {"outputLabel": "V"}},
        ],
        "connections": [{"source": "i", "target": "o"}],
    }
    deployment = await deploy(client, workflow, name="Falsy")
    schema_typed = {"v": [falsy]} if falsy is False else {"v": {"x": falsy}}
    response = await client.post(
        "/api/workflows/falsy/execute", json=schema_typed, headers=bearer(deployment["apiKey"])
    )
    assert response.json()["outputs"] == schema_typed


async def test_the_slug_must_belong_to_the_keys_deployment(client: httpx2.AsyncClient) -> None:
    first = await deploy(client, name="First")
    await deploy(client, name="Second")
    for slug, status, code in (("second", 403, "access_denied"), ("does-not-exist", 404, "workflow_not_found")):
        response = await client.post(
            f"/api/workflows/{slug}/execute", json={"name": "x"}, headers=bearer(first["apiKey"])
        )
        assert (response.status_code, response.json()["code"]) == (status, code)
    assert await history(client, "first", first["apiKey"]) == []


@pytest.mark.parametrize(
    ("headers", "code", "error"),
    [
        ({}, "missing_authorization", "Missing Authorization header"),
        ({"Authorization": "Bearer sk-not-ours"}, "invalid_api_key_format", "Invalid API key format"),
        ({"Authorization": "Bearer clara_sk_123"}, "invalid_api_key_format", "Invalid API key format"),
    ],
)
async def test_authentication_errors(
    client: httpx2.AsyncClient, headers: dict[str, str], code: str, error: str
) -> None:
    await deploy(client)
    response = await client.post("/api/workflows/hello-world/execute", json={"name": "x"}, headers=headers)
    assert response.status_code == 401
    body = response.json()
    assert (body["code"], body["error"], body["success"]) == (code, error, False)
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


async def test_the_missing_key_message_shows_what_to_send(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    response = await client.post("/api/workflows/hello-world/execute", json={"name": "x"})
    assert response.json()["message"] == "Please provide an API key in the Authorization header: Bearer clara_sk_..."


async def test_a_well_formed_unknown_key_is_invalid(client: httpx2.AsyncClient) -> None:
    from clara_runner.security.api_keys import generate

    await deploy(client)
    response = await client.post(
        "/api/workflows/hello-world/execute", json={"name": "x"}, headers=bearer(generate().plaintext)
    )
    assert response.status_code == 401
    assert response.json()["code"] == "invalid_api_key"


async def test_a_raw_key_without_bearer_is_accepted_as_in_the_original(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    response = await client.post(
        "/api/workflows/hello-world/execute", json={"name": "x"}, headers={"Authorization": deployment["apiKey"]}
    )
    assert response.status_code == 200


async def test_bad_bodies_are_400s_and_each_leaves_one_error_record(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    key = deployment["apiKey"]
    url = "/api/workflows/hello-world/execute"
    malformed = await client.post(url, content=b"{nope", headers={**bearer(key), "Content-Type": "application/json"})
    assert (malformed.status_code, malformed.json()["code"]) == (400, "malformed_json")
    invalid = await client.post(url, json={"nam": "x", "extra": 1}, headers=bearer(key))
    assert invalid.status_code == 400
    body = invalid.json()
    assert body["code"] == "input_validation_failed"
    assert body["validationErrors"] == ["Missing required field: name", "Unknown field: nam", "Unknown field: extra"]
    assert {"path": "/name", "message": "Missing required field: name"} in body["errors"]
    wrong_type = await client.post(url, json={"name": 5}, headers=bearer(key))
    assert wrong_type.json()["validationErrors"] == ["Field 'name' must be a string"]
    not_object = await client.post(url, json=["Alice"], headers=bearer(key))
    assert not_object.json()["validationErrors"] == ["Request body must be a JSON object of input fields"]
    records = await history(client, "hello-world", key)
    assert [r["status"] for r in records] == ["error"] * 4
    assert sorted(r["errorCode"] for r in records) == [
        "input_validation_failed",
        "input_validation_failed",
        "input_validation_failed",
        "malformed_json",
    ]
    assert invalid.json()["executionId"] in {r["id"] for r in records}


async def test_a_body_over_the_limit_is_413_and_recorded(probes: httpx2.AsyncClient) -> None:
    deployment = await deploy(probes)
    response = await probes.post(
        "/api/workflows/hello-world/execute", json={"name": "x" * 5000}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 413
    assert response.json()["code"] == "payload_too_large"
    (record,) = await history(probes, "hello-world", deployment["apiKey"])
    assert (record["status"], record["errorCode"], record["inputs"]) == ("error", "payload_too_large", None)


async def test_a_chunked_body_over_the_limit_is_413(probes: httpx2.AsyncClient) -> None:
    deployment = await deploy(probes)

    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"name": "'
        for _ in range(10):
            yield b"x" * 500
        yield b'"}'

    response = await probes.post(
        "/api/workflows/hello-world/execute", content=chunks(), headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 413


async def test_the_deadline_cancels_the_run_records_timeout_and_answers_504(probes: httpx2.AsyncClient) -> None:
    deployment = await deploy(probes, SLOW, name="Slow")
    response = await probes.post(
        "/api/workflows/slow/execute", json={"seconds": 1}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 504
    body = response.json()
    assert body["code"] == "execution_timeout"
    assert "300ms" in body["message"]
    (record,) = await history(probes, "slow", deployment["apiKey"])
    assert record["status"] == "timeout"
    assert record["id"] == body["executionId"]
    statuses = {step["nodeId"]: step["status"] for step in record["trace"]}
    assert statuses == {"i": "success", "s": "cancelled"}
    assert record["nodesExecuted"] == 1


async def test_a_failing_node_is_a_422_naming_the_node(probes: httpx2.AsyncClient) -> None:
    deployment = await deploy(probes, FAILING, name="Failing")
    response = await probes.post(
        "/api/workflows/failing/execute", json={"x": "1"}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "workflow_failed"
    assert body["nodeId"] == "bad"
    assert body["message"] == "Node 'Broken Step' (probe-fail) failed: upstream said no"
    (record,) = await history(probes, "failing", deployment["apiKey"])
    assert (record["status"], record["errorCode"], record["error"]) == ("error", "workflow_failed", body["message"])


async def test_an_unforeseen_node_failure_tells_the_caller_its_kind_not_the_servers_insides(
    probes: httpx2.AsyncClient,
) -> None:
    crashing = {
        **FAILING,
        "nodes": [{**node, "type": "probe-crash"} if node["id"] == "bad" else node for node in FAILING["nodes"]],
    }
    deployment = await deploy(probes, crashing, name="Crashing")
    response = await probes.post(
        "/api/workflows/crashing/execute", json={"x": "1"}, headers=bearer(deployment["apiKey"])
    )
    assert (response.status_code, response.json()["code"], response.json()["nodeId"]) == (422, "workflow_failed", "bad")
    assert "TypeError" in response.json()["message"]
    (record,) = await history(probes, "crashing", deployment["apiKey"])
    for text in (response.text, str(record)):
        assert "NoneType" not in text
        assert "/srv/clara" not in text


async def test_nodes_executed_counts_nodes_that_ran(probes: httpx2.AsyncClient) -> None:
    workflow = {
        "nodes": [
            {"id": "i", "type": "input", "data": {"label": "Flag"}},
            {"id": "b", "type": "probe-branch", "data": {}},
            {"id": "yes", "type": "output", "data": {"outputLabel": "Yes"}},
            {"id": "no", "type": "output", "data": {"outputLabel": "No"}},
        ],
        "connections": [
            {"source": "i", "target": "b"},
            {"source": "b", "target": "yes", "sourceHandle": "yes"},
            {"source": "b", "target": "no", "sourceHandle": "no"},
        ],
    }
    deployment = await deploy(probes, workflow, name="Branchy")
    response = await probes.post(
        "/api/workflows/branchy/execute", json={"flag": "on"}, headers=bearer(deployment["apiKey"])
    )
    assert response.json()["outputs"] == {"yes": "on"}
    assert response.json()["metadata"]["nodesExecuted"] == 3


async def test_form_encoded_bodies_are_read_like_the_original(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    response = await client.post(
        "/api/workflows/hello-world/execute",
        content=b"name=Zo%C3%AB",
        headers={**bearer(deployment["apiKey"]), "Content-Type": "application/x-www-form-urlencoded"},
    )
    assert response.json()["outputs"] == {"greeting": "Zoë"}


async def test_null_bytes_are_removed_from_nested_inputs(client: httpx2.AsyncClient) -> None:
    workflow = {
        "nodes": [
            {"id": "i", "type": "input", "data": {"label": "Doc", "inputType": "json"}},
            {"id": "o", "type": "output", "data": {"outputLabel": "Doc"}},
        ],
        "connections": [{"source": "i", "target": "o"}],
    }
    deployment = await deploy(client, workflow, name="Docs")
    response = await client.post(
        "/api/workflows/docs/execute",
        json={"doc": {"a\x00": ["x\x00y", {"k": "\x00"}]}},
        headers=bearer(deployment["apiKey"]),
    )
    assert response.json()["outputs"] == {"doc": {"a": ["xy", {"k": ""}]}}
