"""The log of a real `clara-runner serve`: every line one JSON object (uvicorn's and the libraries' too),
one line per request and per run with what identifies them, secrets redacted; `LOG_FORMAT=console`
writes text."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2

from tests.e2e.lifecycle import lifecycle_env
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer, deploy_to

SERVER_KEY = "sk-server-key-for-tests"


def lines_of(server: LiveServer) -> list[dict[str, Any]]:
    return [json.loads(line) for line in server.output().splitlines() if line.strip()]


async def test_one_json_line_per_request_and_run_with_their_ids(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, LOG_LEVEL="info")
    with LiveServer(env, ["--workers", "2"]) as server:
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=30) as http:
            deployment = await deploy_to(http, "", ask_flow(), "Ask")
            execute = f"/api/workflows/{deployment['slug']}/execute"
            key = deployment["apiKey"]
            answered = await http.post(
                execute, json={"question": f"say {SERVER_KEY}"}, headers={**bearer(key), "X-Request-ID": "req-42"}
            )
            refused = await http.post(execute, json={}, headers={"Authorization": "Bearer clara_sk_nope"})
        assert answered.headers["x-request-id"] == "req-42"
        generated = refused.headers["x-request-id"]
        assert len(generated) == 32
        server.stop()
        lines = lines_of(server)

    events = {line["event"] for line in lines}
    assert {"server_starting", "request", "run"} <= events
    assert any(line.get("logger", "").startswith("uvicorn") for line in lines), "uvicorn's lines are JSON too"
    assert not [line for line in lines if line.get("logger") == "uvicorn.access"], "its access line: --access-log"
    execution_id = answered.json()["metadata"]["executionId"]
    (request,) = [line for line in lines if line["event"] == "request" and line.get("request_id") == "req-42"]
    assert request["route"] == "/api/workflows/{slug}/execute"
    assert request["status"] == 200
    assert request["deployment"] == "ask"
    assert request["key_prefix"] == deployment["apiKey"][9:17], "the display prefix without clara_sk_"
    assert request["execution_id"] == execution_id
    assert request["duration_ms"] > 0
    (run,) = [line for line in lines if line["event"] == "run"]
    assert run["execution_id"] == execution_id
    assert run["request_id"] == "req-42"
    assert (run["status"], run["deployment"], run["prompt_tokens"]) == ("success", "ask", 11)
    (bad,) = [line for line in lines if line.get("request_id") == generated and line["event"] == "request"]
    assert (bad["status"], bad["route"]) == (401, "/api/workflows/{slug}/execute")
    assert SERVER_KEY not in server.output()
    assert key not in server.output()


async def test_uvicorns_access_line_is_logged_with_access_log_only(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, LOG_LEVEL="info")
    with LiveServer(env, ["--access-log"]) as server:
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=30) as http:
            assert (await http.get("/api/info")).status_code == 200
        server.stop()
        lines = lines_of(server)
    access = [line for line in lines if line.get("logger") == "uvicorn.access"]
    assert any("/api/info" in line["event"] for line in access)
    assert "/api/info" in [line["route"] for line in lines if line["event"] == "request"]


async def test_console_format_writes_text(database_url: str, tmp_path: Path, openai_server: FakeOpenAI) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, LOG_LEVEL="info", LOG_FORMAT="console")
    with LiveServer(env) as server:
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=30) as http:
            assert (await http.get("/api/info")).status_code == 200
        server.stop()
        output = server.output()
    request_lines = [line for line in output.splitlines() if "request" in line and "/api/info" in line]
    assert request_lines
    assert not request_lines[0].lstrip().startswith("{")
