"""When a run's row is written: a quick run writes only its final row; a run still going after the
threshold shows as `running` (owned by this process's lease) until its final row replaces it."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx2

from tests.apps import GATED_WORKFLOW, gated_app, runtime_of, serving, wait_until
from tests.support import bearer, deploy, make_settings


async def _statuses(client: httpx2.AsyncClient, key: str) -> list[dict[str, Any]]:
    response = await client.get("/api/workflows/gated/executions", headers=bearer(key))
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


async def test_a_run_past_the_threshold_is_running_in_history_until_it_finishes(
    database_url: str, tmp_path: Path
) -> None:
    app, gate = gated_app(make_settings(database_url, tmp_path / "data", RUN_RECORD_AFTER_MS="20"))
    async with serving(app) as client:
        key = (await deploy(client, GATED_WORKFLOW, name="Gated"))["apiKey"]
        running = asyncio.create_task(
            client.post("/api/workflows/gated/execute", json={"name": "Ada"}, headers=bearer(key))
        )
        await gate.wait_inside(1)
        await wait_until(lambda: runtime_of(app).writer.backlog == 0 and len(runtime_of(app).executions.in_flight) == 1)
        for _ in range(200):
            rows = await _statuses(client, key)
            if rows:
                break
            await asyncio.sleep(0.01)
        assert [(row["status"], row["finishedAt"]) for row in rows] == [("running", None)]
        gate.open()
        response = await running
        assert response.status_code == 200
        rows = await _statuses(client, key)
    assert [(row["status"], row["id"]) for row in rows] == [("success", response.json()["metadata"]["executionId"])]


async def test_a_quick_run_writes_only_its_final_row(database_url: str, tmp_path: Path) -> None:
    app, gate = gated_app(make_settings(database_url, tmp_path / "data", RUN_RECORD_AFTER_MS="60000"))
    gate.open()
    async with serving(app) as client:
        key = (await deploy(client, GATED_WORKFLOW, name="Gated"))["apiKey"]
        written: list[int] = []
        runtime_of(app).writer.observers.append(written.append)
        response = await client.post("/api/workflows/gated/execute", json={"name": "Ada"}, headers=bearer(key))
    assert response.status_code == 200
    assert written == [1], "one snapshot, the final one"
