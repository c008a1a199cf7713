"""Custom nodes through the real server: the Studio example deploys and runs; runaway code fails alone,
even code that kills V8, and the server's sandbox workers end with it."""

from __future__ import annotations

import asyncio
import copy
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.sandbox_workers import survivors, worker_pids
from tests.support import LiveServer, bearer, deploy, history_of, server_env, shared_workflow

RUNAWAY_LOOP = "async function execute(inputs) { while (true) {} }"
ALLOCATION_BOMB = "async function execute(inputs) { const kept = []; while (true) kept.push(new Array(1e5).fill(1)); }"
FATAL_ALLOCATION = "new Array(2**30).fill(0).length > 0"
"""Grows an array inside one builtin call, past V8's heap limit, until V8 aborts its process."""
FATAL_GATE: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Text", "value": "x"}},
        {"id": "gate", "type": "if-else", "data": {"expression": FATAL_ALLOCATION}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
    ],
    "connections": [{"source": "in", "target": "gate"}, {"source": "gate", "target": "out", "sourceHandle": "output"}],
}


def with_code(code: str) -> dict[str, Any]:
    workflow: dict[str, Any] = copy.deepcopy(shared_workflow("custom-node-export-example.json"))
    workflow["customNodes"][0]["executionCode"] = code
    return workflow


async def test_the_studio_custom_node_example_deploys_and_returns_hello_world(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client, shared_workflow("custom-node-export-example.json"), name="Custom Node Flow")
    response = await client.post(
        f"/api/workflows/{deployment['slug']}/execute", json={}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {"result": "HELLO WORLD"}


async def test_a_throwing_custom_node_fails_the_execution_with_its_message(client: httpx2.AsyncClient) -> None:
    workflow = with_code("async function execute(inputs) { throw new Error('no text given') }")
    deployment = await deploy(client, workflow, name="Thrower")
    response = await client.post(
        f"/api/workflows/{deployment['slug']}/execute", json={}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "workflow_failed"
    assert body["message"] == "Node 'Text Transformer' (text-transformer) failed: no text given"
    assert body["nodeId"] == "custom-1"


@pytest.fixture
def sandboxed_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    env = server_env(database_url, tmp_path / "data", CUSTOM_NODE_TIMEOUT_MS="12000", CUSTOM_NODE_MEMORY_MB="32")
    with LiveServer(env) as server:
        yield server


async def test_runaway_custom_nodes_fail_alone_while_the_server_keeps_serving(sandboxed_server: LiveServer) -> None:
    async with sandboxed_server.client(timeout=60) as http:
        loop = await deploy(http, with_code(RUNAWAY_LOOP), name="Runaway Loop")
        bomb = await deploy(http, with_code(ALLOCATION_BOMB), name="Allocation Bomb")
        hello = await deploy(http, name="Hello World")

        async def execute(deployment: dict[str, Any], body: dict[str, Any]) -> httpx2.Response:
            url = f"/api/workflows/{deployment['slug']}/execute"
            return await http.post(url, json=body, headers=bearer(deployment["apiKey"]))

        runaway = asyncio.create_task(execute(loop, {}))
        exhausted = await execute(bomb, {})
        served = [await execute(hello, {"name": f"caller {n}"}) for n in range(5)]
        assert not runaway.done()
        stopped = await runaway

    assert [response.json()["outputs"] for response in served] == [{"greeting": f"caller {n}"} for n in range(5)]
    assert (exhausted.status_code, exhausted.json()["code"]) == (422, "sandbox_memory_exceeded")
    assert exhausted.json()["message"].endswith("the script used more than 32 MB of memory and was stopped")
    assert (stopped.status_code, stopped.json()["code"]) == (422, "sandbox_timeout")
    assert stopped.json()["message"].endswith("the script ran longer than 12000 ms and was stopped")


@pytest.fixture
def memory_limited_server(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    """A time limit far above what the fatal allocation takes (about 6 s alone on 2 cores, 26 s seen on a
    loaded machine), so only memory can stop it; no rate limit, so the deployment served meanwhile can be
    called as long as that takes."""
    env = server_env(
        database_url,
        tmp_path / "data",
        CUSTOM_NODE_TIMEOUT_MS="120000",
        CUSTOM_NODE_MEMORY_MB="32",
        RATE_LIMIT_ENABLED="false",
    )
    with LiveServer(env) as server:
        yield server


async def test_code_that_kills_v8_fails_its_own_execution_while_other_deployments_are_served(
    memory_limited_server: LiveServer,
) -> None:
    async with memory_limited_server.client(timeout=150) as http:
        node = await deploy(
            http, with_code(f"async function execute(inputs) {{ return {FATAL_ALLOCATION} }}"), name="Fatal Node"
        )
        gate = await deploy(http, FATAL_GATE, name="Fatal Gate")
        hello = await deploy(http, name="Hello World")

        async def execute(deployment: dict[str, Any], body: dict[str, Any]) -> httpx2.Response:
            url = f"/api/workflows/{deployment['slug']}/execute"
            return await http.post(url, json=body, headers=bearer(deployment["apiKey"]))

        fatal = asyncio.gather(execute(node, {}), execute(gate, {}))
        served: list[httpx2.Response] = []
        while not fatal.done():
            served.append(await execute(hello, {"name": f"caller {len(served)}"}))
            await asyncio.wait({fatal}, timeout=0.2)
        failures = await fatal
        after = await execute(hello, {"name": "after"})
        [recorded] = await history_of(http, "", gate)
        workers = worker_pids(memory_limited_server.process.pid)

    assert served
    assert [response.json()["outputs"] for response in served] == [
        {"greeting": f"caller {n}"} for n in range(len(served))
    ]
    for response, node_id in zip(failures, ("custom-1", "gate"), strict=True):
        assert response.status_code == 422, response.text
        body = response.json()
        assert (body["code"], body["nodeId"]) == ("sandbox_memory_exceeded", node_id)
        assert body["message"].endswith("the script used more than 32 MB of memory and was stopped")
    assert after.json()["outputs"] == {"greeting": "after"}
    assert (recorded["status"], recorded["errorCode"]) == ("error", "sandbox_memory_exceeded")
    assert memory_limited_server.process.poll() is None
    assert workers
    memory_limited_server.stop()
    assert survivors(workers, within_seconds=5) == set()
