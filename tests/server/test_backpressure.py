"""Backpressure through the HTTP API: slow runs fill the slots, later requests wait or get 503."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2

from tests.apps import GATED_WORKFLOW, gated_app, runtime_of, serving, wait_until
from tests.support import bearer, deploy, make_settings


def _execute(
    client: httpx2.AsyncClient, deployment: dict[str, Any], name: str = "Ada"
) -> asyncio.Task[httpx2.Response]:
    return asyncio.create_task(
        client.post(
            f"/api/workflows/{deployment['slug']}/execute", json={"name": name}, headers=bearer(deployment["apiKey"])
        )
    )


async def test_past_the_limit_requests_wait_a_bounded_time_then_get_503(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(
        database_url, tmp_path, MAX_CONCURRENT_EXECUTIONS=2, MAX_QUEUED_EXECUTIONS=1, QUEUE_TIMEOUT_MS=100
    )
    app, gate = gated_app(settings)
    async with serving(app) as client:
        deployment = await deploy(client, GATED_WORKFLOW, name="Slow")
        running = [_execute(client, deployment) for _ in range(2)]
        await gate.wait_inside(2)
        timed_out = await _execute(client, deployment)
        gate.open()
        finished = await asyncio.gather(*running)
        history = (
            await client.get(f"/api/workflows/{deployment['slug']}/executions", headers=bearer(deployment["apiKey"]))
        ).json()["executions"]

    assert [response.status_code for response in finished] == [200, 200]
    assert timed_out.status_code == 503
    body = timed_out.json()
    assert body["success"] is False
    assert body["code"] == "at_capacity"
    assert "at most 2 executions at once" in body["message"]
    assert timed_out.headers["Retry-After"] == "1"
    assert timed_out.headers["RateLimit-Limit"] == "100"
    assert gate.entered == 2
    assert len(history) == 2


async def test_a_waiting_request_runs_when_a_slot_frees_and_the_line_is_bounded(
    database_url: str, tmp_path: Path
) -> None:
    settings = make_settings(
        database_url, tmp_path, MAX_CONCURRENT_EXECUTIONS=1, MAX_QUEUED_EXECUTIONS=1, QUEUE_TIMEOUT_MS=30000
    )
    app, gate = gated_app(settings)
    async with serving(app) as client:
        deployment = await deploy(client, GATED_WORKFLOW, name="Slow")
        first = _execute(client, deployment, "first")
        await gate.wait_inside(1)
        queued = _execute(client, deployment, "queued")
        await wait_until(lambda: runtime_of(app).capacity.waiting == 1)
        statements: list[str] = []
        runtime_of(app).database.statement_observers.append(statements.append)
        turned_away = await _execute(client, deployment, "turned away")
        runtime_of(app).database.statement_observers.clear()
        gate.open()
        responses = await asyncio.gather(first, queued)

    assert [response.status_code for response in responses] == [200, 200]
    assert responses[1].json()["outputs"] == {"greeting": "queued"}
    assert turned_away.status_code == 503
    assert "1 requests are already waiting" in turned_away.json()["message"]
    assert "RateLimit-Remaining" not in turned_away.headers, "refused before it took any quota"
    assert statements == [], "and before any database work"
    assert gate.entered == 2


async def test_a_deployment_max_concurrency_holds_back_only_that_deployment(database_url: str, tmp_path: Path) -> None:
    settings = make_settings(database_url, tmp_path, MAX_CONCURRENT_EXECUTIONS=10, QUEUE_TIMEOUT_MS=100)
    app, gate = gated_app(settings)
    async with serving(app) as client:
        capped = await deploy(client, GATED_WORKFLOW, name="Capped", maxConcurrency=1)
        other = await deploy(client, GATED_WORKFLOW, name="Other")
        first = _execute(client, capped)
        await gate.wait_inside(1)
        refused = await _execute(client, capped)
        others = [_execute(client, other) for _ in range(3)]
        await gate.wait_inside(4)
        gate.open()
        done = await asyncio.gather(first, *others)

    assert refused.status_code == 503
    assert "at most 1 of this workflow" in refused.json()["message"]
    assert [response.status_code for response in done] == [200, 200, 200, 200]
