"""`if-else` through the server: the inactive branch's output is absent and its nodes are `skipped` in history."""

from __future__ import annotations

from typing import Any

import httpx2

from tests.support import bearer, deploy

GATE: dict[str, Any] = {
    "nodes": [
        {"id": "amount", "type": "input", "data": {"label": "Amount", "inputType": "number"}},
        {"id": "gate", "type": "if-else", "data": {"expression": "input >= 100", "trueValue": "review"}},
        {"id": "stringify", "type": "json-stringify", "data": {}},
        {"id": "review", "type": "output", "data": {"outputLabel": "Review"}},
        {"id": "approved", "type": "output", "data": {"outputLabel": "Approved"}},
    ],
    "connections": [
        {"sourceNodeId": "amount", "sourcePortId": "output", "targetNodeId": "gate", "targetPortId": "input"},
        {"sourceNodeId": "gate", "sourcePortId": "true", "targetNodeId": "review", "targetPortId": "input"},
        {"sourceNodeId": "gate", "sourcePortId": "false", "targetNodeId": "stringify", "targetPortId": "input"},
        {"sourceNodeId": "stringify", "sourcePortId": "output", "targetNodeId": "approved", "targetPortId": "input"},
    ],
}


async def test_only_the_active_branch_answers_and_the_other_is_skipped_in_the_trace(
    client: httpx2.AsyncClient,
) -> None:
    deployment = await deploy(client, GATE, name="Gate")
    headers = bearer(deployment["apiKey"])
    assert deployment["schema"]["output"].get("required", []) == []
    big = await client.post("/api/workflows/gate/execute", json={"amount": 250}, headers=headers)
    small = await client.post("/api/workflows/gate/execute", json={"amount": 20}, headers=headers)
    assert big.json()["outputs"] == {"review": "review"}
    assert small.json()["outputs"] == {"approved": "20"}
    assert (big.json()["metadata"]["nodesExecuted"], small.json()["metadata"]["nodesExecuted"]) == (3, 4)

    history = await client.get("/api/workflows/gate/executions", headers=headers)
    traces = [{entry["nodeId"]: entry["status"] for entry in run["trace"]} for run in history.json()["executions"]]
    assert sorted(traces, key=lambda trace: trace["review"]) == [
        {"amount": "success", "gate": "success", "stringify": "success", "approved": "success", "review": "skipped"},
        {"amount": "success", "gate": "success", "review": "success", "stringify": "skipped", "approved": "skipped"},
    ]
