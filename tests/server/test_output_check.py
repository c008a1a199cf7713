"""Outputs that break the published output schema are traced and counted, and the call still succeeds."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.support import bearer, deploy

JSON_ECHO: dict[str, Any] = {
    "nodes": [
        {"id": "input-1", "type": "input", "data": {"label": "Data"}},
        {"id": "output-1", "type": "output", "data": {"outputLabel": "Result", "format": "json"}},
    ],
    "connections": [{"source": "input-1", "target": "output-1", "sourceHandle": "output", "targetHandle": "input"}],
}


async def test_an_output_mismatch_is_traced_and_counted_without_failing_the_call(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client, JSON_ECHO, name="Json Echo")
    assert deployment["schema"]["output"]["properties"]["result"]["anyOf"] == [
        {"type": "object", "additionalProperties": True},
        {"type": "array", "items": {}},
    ]
    headers = bearer(deployment["apiKey"])

    matching = await client.post("/api/workflows/json-echo/execute", json={"data": '{"a": 1}'}, headers=headers)
    assert matching.status_code == 200
    assert matching.json()["outputs"] == {"result": {"a": 1}}
    broken = await client.post("/api/workflows/json-echo/execute", json={"data": "not json"}, headers=headers)
    assert broken.status_code == 200, broken.text
    assert broken.json()["outputs"] == {"result": "not json"}
    assert broken.json()["metadata"]["nodesExecuted"] == 2

    history = (await client.get("/api/workflows/json-echo/executions", headers=headers)).json()["executions"]
    newest, oldest = history
    checks = [entry for entry in newest["trace"] if entry.get("type") == "output-check"]
    assert len(checks) == 1
    assert checks[0]["status"] == "mismatch"
    assert [(problem["path"], problem["nodeId"]) for problem in checks[0]["errors"]] == [("/result", "output-1")]
    assert (newest["status"], newest["nodesExecuted"]) == ("success", 2)
    assert not [entry for entry in oldest["trace"] if entry.get("type") == "output-check"]

    details = (await client.get("/api/workflows/json-echo")).json()["workflow"]
    assert details["outputSchemaMismatches"] == 1
    listed = (await client.get("/api/deployments")).json()["deployments"]
    assert [item["outputSchemaMismatches"] for item in listed] == [1]

    await client.post("/api/workflows/json-echo/execute", json={"data": "again"}, headers=headers)
    await client.post("/api/workflows/json-echo/execute", json={"data": "[true]"}, headers=headers)
    assert (await client.get("/api/workflows/json-echo")).json()["workflow"]["outputSchemaMismatches"] == 2
