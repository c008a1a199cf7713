"""Runs the caller does not wait for, across the death and the shutdown of the process that accepted them:
`clara-runner serve` in a child process, a loopback model, a real SSE client."""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from httpx_sse import ServerSentEvent, aconnect_sse

from tests.e2e.lifecycle import FINAL, LEASE_SECONDS, lifecycle_env
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=30) as client:
        yield client


async def deploy(http: httpx.AsyncClient, server: LiveServer) -> dict[str, Any]:
    response = await http.post(f"{server.base_url}/api/deploy", json={"name": "Ask", "workflow": ask_flow()})
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


async def events_of(http: httpx.AsyncClient, method: str, url: str, **kwargs: Any) -> list[ServerSentEvent]:
    async with aconnect_sse(http, method, url, **kwargs) as source:
        return [event async for event in source.aiter_sse()]


async def final_state(http: httpx.AsyncClient, url: str, key: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while True:
        execution: dict[str, Any] = (await http.get(url, headers=bearer(key))).json()["execution"]
        if execution["status"] in FINAL:
            return execution
        assert time.monotonic() < deadline, f"the run is still {execution['status']}"
        await asyncio.sleep(0.1)


async def until_called(model: FakeOpenAI, count: int) -> None:
    deadline = time.monotonic() + 30
    while len(model.requests_to("/v1/chat/completions")) < count:
        assert time.monotonic() < deadline, "the model was never called"
        await asyncio.sleep(0.02)


async def test_kill_9_after_202_marks_the_run_interrupted_and_finished_runs_keep_their_events(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server)
    with LiveServer(env) as server:
        deployment = await deploy(http, server)
        key = deployment["apiKey"]
        execute = f"{server.base_url}/api/workflows/{deployment['slug']}/execute"
        streamed = await events_of(
            http, "POST", execute, json={"question": "kept"}, headers={**bearer(key), "Accept": "text/event-stream"}
        )
        openai_server.delay = 60
        accepted = await http.post(f"{execute}?mode=async", json={"question": "lost"}, headers=bearer(key))
        assert accepted.status_code == 202
        await until_called(openai_server, 2)
        server.process.kill()
        server.process.wait(timeout=10)

    with LiveServer(env) as restarted:
        run_url = f"{restarted.base_url}/api/executions/{accepted.json()['executionId']}"
        lost = await final_state(http, run_url, key, seconds=4 * LEASE_SECONDS + 10)
        finished_id = streamed[0].json()["executionId"]
        replayed = await events_of(
            http, "GET", f"{restarted.base_url}/api/executions/{finished_id}/events", headers=bearer(key)
        )
        lost_events = await events_of(http, "GET", f"{run_url}/events", headers=bearer(key))
        after_last = await events_of(
            http, "GET", f"{run_url}/events", headers={**bearer(key), "Last-Event-ID": lost_events[-1].id}
        )

    assert (lost["status"], lost["errorCode"]) == ("interrupted", "process_lost")
    assert [(e.id, e.event, e.data) for e in replayed] == [(e.id, e.event, e.data) for e in streamed]
    assert replayed[-1].event == "run.finished"
    assert lost_events[0].event == "run.started", "the accepted run's log was stored before the 202"
    assert "run.finished" not in {event.event for event in lost_events}
    assert lost_events[-1].event == "run.failed", "a run whose process died still ends its stream"
    ended = lost_events[-1].json()
    assert (ended["code"], ended["executionId"]) == ("process_lost", accepted.json()["executionId"])
    assert int(lost_events[-1].id) == int(lost_events[-2].id) + 1
    assert after_last == []


async def test_sigterm_gives_detached_runs_the_grace_then_records_them_interrupted(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, SHUTDOWN_GRACE_SECONDS="1")
    with LiveServer(env) as server:
        deployment = await deploy(http, server)
        key = deployment["apiKey"]
        execute = f"{server.base_url}/api/workflows/{deployment['slug']}/execute?mode=async"
        openai_server.delay = 60
        accepted = (await http.post(execute, json={"question": "long"}, headers=bearer(key))).json()
        await until_called(openai_server, 1)
        server.process.send_signal(signal.SIGTERM)
        assert server.process.wait(timeout=15) == -signal.SIGTERM, "uvicorn re-raises the signal after shutting down"

    with LiveServer(env) as restarted:
        run_url = f"{restarted.base_url}/api/executions/{accepted['executionId']}"
        execution = await final_state(http, run_url, key, seconds=5)
        events = await events_of(http, "GET", f"{run_url}/events", headers=bearer(key))

    assert (execution["status"], execution["errorCode"]) == ("interrupted", "server_shutdown")
    assert events[-1].event == "run.failed"
    assert events[-1].json()["code"] == "shutting_down"
