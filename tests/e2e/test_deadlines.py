"""Deadlines cancel the work they bound, outbound HTTP included, over real HTTP.

A node awaits a loopback server that never answers. When the node's `timeoutMs` or the run's
`MAX_EXECUTION_TIME` passes, the request to that server is cancelled: the server sees its connection
closed before the caller gets its 504, the execution records `timeout`, and no node task is left.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Any

import httpx2

from tests.loopback import LoopbackServer, loopback_server
from tests.nodes import chain
from tests.serving import app_with_test_nodes, serve_in_process
from tests.support import bearer


def _node_tasks() -> list[asyncio.Task[Any]]:
    return [task for task in asyncio.all_tasks() if task.get_name().startswith("node:") and not task.done()]


async def _run_against_hanging_server(
    database_url: str, data_dir: Path, fetch_data: dict[str, Any], **settings: Any
) -> tuple[httpx2.Response, float, LoopbackServer, dict[str, Any]]:
    async with loopback_server() as upstream:
        upstream.routes["/slow"] = upstream.hang()
        app = app_with_test_nodes(database_url, data_dir, EGRESS_ALLOW_HOSTS="127.0.0.1", **settings)
        async with serve_in_process(app) as base_url, httpx2.AsyncClient(base_url=base_url, timeout=30) as http:
            workflow = chain(
                {"id": "fetch", "type": "test-fetch", "data": {"url": f"{upstream.url}/slow", **fetch_data}}
            )
            deployed = await http.post("/api/deploy", json={"name": "Slow", "workflow": workflow})
            assert deployed.status_code == 201, deployed.text
            key = deployed.json()["deployment"]["apiKey"]
            response = await http.post("/api/workflows/slow/execute", json={"text": "go"}, headers=bearer(key))
            answered_at = time.monotonic()
            await upstream.wait_closed(10)
            assert _node_tasks() == []
            history = (await http.get("/api/workflows/slow/executions")).json()["executions"]
    return response, answered_at, upstream, history[0]


async def test_a_node_timeout_cancels_its_http_call_and_records_timeout(database_url: str, tmp_path: Path) -> None:
    response, answered_at, upstream, row = await _run_against_hanging_server(
        database_url, tmp_path / "data", {"timeoutMs": 300}
    )
    assert response.status_code == 504
    body = response.json()
    assert body["code"] == "node_timeout"
    assert body["nodeId"] == "fetch"
    assert "timeoutMs (300 ms)" in body["message"]
    assert upstream.requests == ["GET /slow"]
    assert upstream.closed_at[0] <= answered_at
    assert row["status"] == "timeout"
    assert row["errorCode"] == "node_timeout"
    assert [(entry["nodeId"], entry["status"]) for entry in row["trace"]] == [("in", "success"), ("fetch", "timeout")]


async def test_the_run_deadline_cancels_in_flight_http_and_answers_504(database_url: str, tmp_path: Path) -> None:
    response, answered_at, upstream, row = await _run_against_hanging_server(
        database_url, tmp_path / "data", {}, MAX_EXECUTION_TIME=400
    )
    assert response.status_code == 504
    body = response.json()
    assert body["code"] == "execution_timeout"
    assert "400ms" in body["message"]
    assert upstream.closed_at[0] <= answered_at
    assert row["status"] == "timeout"
    assert row["errorCode"] == "execution_timeout"
    assert [(entry["nodeId"], entry["status"]) for entry in row["trace"]] == [("in", "success"), ("fetch", "cancelled")]


async def test_a_node_that_finishes_within_its_timeout_succeeds(database_url: str, tmp_path: Path) -> None:
    app = app_with_test_nodes(database_url, tmp_path / "data")
    async with serve_in_process(app) as base_url, httpx2.AsyncClient(base_url=base_url) as http:
        workflow = chain({"id": "emit", "type": "test-emit", "data": {"value": "done", "timeoutMs": 10_000}})
        key = (await http.post("/api/deploy", json={"name": "Quick", "workflow": workflow})).json()["deployment"]
        response = await http.post("/api/workflows/quick/execute", json={}, headers=bearer(key["apiKey"]))
    assert response.status_code == 200
    assert response.json()["outputs"] == {"result": "done"}
