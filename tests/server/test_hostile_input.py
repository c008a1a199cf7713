"""Input a client can send that the server cannot take is a clear 400 with a stable code, before any node
runs, and leaves the server and its records as they were (no 500, no misleading 503)."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx2
import orjson
import pytest
from fastapi import FastAPI

from tests.apps import runtime_of, wait_until
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


JSON_ECHO: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Data", "inputType": "json"}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Data"}},
    ],
    "connections": [{"source": "in", "target": "out"}],
}


async def test_a_huge_legal_body_is_read_while_the_server_goes_on_answering(
    app: FastAPI, client: httpx2.AsyncClient
) -> None:
    """Parsing, validating and redacting a body of a million values takes a second of CPU: health checks
    keep being answered while it happens, where a blocked event loop would answer none until it is done
    (the run's inputs are recorded the moment it is)."""
    key = (await deploy(client, JSON_ECHO, name="Bulk"))["apiKey"]
    body = orjson.dumps({"data": ["ab"] * 1_000_000})
    bulk = asyncio.create_task(
        client.post(
            "/api/workflows/bulk/execute", content=body, headers={**bearer(key), "Content-Type": "application/json"}
        )
    )
    await wait_until(lambda: any(run.started for run in runtime_of(app).executions.in_flight))
    (run,) = runtime_of(app).executions.in_flight
    answered_while_reading = 0
    while run.inputs_json is None:
        assert (await client.get("/health")).status_code == 200
        answered_while_reading += run.inputs_json is None
    response = await bulk
    assert response.status_code == 200
    assert len(response.json()["outputs"]["data"]) == 1_000_000
    assert answered_while_reading >= 5


async def test_a_body_with_a_hundred_thousand_unknown_fields_gets_a_short_answer(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    body = {"name": "Ada", **{f"extra{index}": index for index in range(100_000)}}
    response = await client.post(EXECUTE, json=body, headers=bearer(key))
    assert (response.status_code, response.json()["code"]) == (400, "input_validation_failed")
    assert len(response.json()["validationErrors"]) == 100
    assert "100000 problems in all" in response.json()["message"]
    assert len(response.content) < 50_000


def _fibonacci_chain(length: int) -> dict[str, Any]:
    """`in`, then `c1` .. `c<length>`, each `combine-text` of the two nodes before it: a workflow of a few
    kilobytes whose values grow exponentially (the finding's 2,000-node chain with fan-in outgrew the
    host's memory)."""
    nodes: list[dict[str, Any]] = [{"id": "in", "type": "input", "data": {"label": "Seed"}}]
    connections = []
    for index in range(1, length + 1):
        first, second = ("in" if index <= 2 else f"c{index - 2}"), ("in" if index == 1 else f"c{index - 1}")
        nodes.append({"id": f"c{index}", "type": "combine-text", "data": {"combineMode": "concat", "addSpaces": False}})
        connections += [
            {"source": first, "target": f"c{index}", "targetHandle": "text1"},
            {"source": second, "target": f"c{index}", "targetHandle": "text2"},
        ]
    nodes.append({"id": "out", "type": "output", "data": {"outputLabel": "Text"}})
    connections.append({"source": f"c{length}", "target": "out"})
    return {"nodes": nodes, "connections": connections}


async def test_a_workflow_whose_values_grow_without_bound_fails_at_the_node_past_the_budget(
    client: httpx2.AsyncClient,
) -> None:
    key = (await deploy(client, _fibonacci_chain(1_998), name="Growth"))["apiKey"]
    response = await client.post("/api/workflows/growth/execute", json={"seed": "ab"}, headers=bearer(key))
    assert (response.status_code, response.json()["code"]) == (422, "value_too_large")
    assert response.json()["nodeId"] == "c32", "2 x fib(34) = 11,405,774 characters: the first over 10,485,760"
    assert "MAX_VALUE_SIZE" in response.json()["message"]
    history = await client.get("/api/workflows/growth/executions", headers=bearer(key))
    (recorded,) = history.json()["executions"]
    assert (recorded["status"], recorded["errorCode"]) == ("error", "value_too_large")
