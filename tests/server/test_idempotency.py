"""Idempotency-Key on execute: replay, conflicts, what is stored, expiry (cross-process: tests/e2e)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from clara_runner.clock import utcnow
from clara_runner.store.tables import idempotency_keys
from tests.apps import GATED_WORKFLOW, GateNode, gated_app, runtime_of, serving
from tests.support import bearer, deploy, make_settings

KEY = "order-2026-0001"


@pytest.fixture
async def gated(database_url: str, tmp_path: Path) -> AsyncIterator[tuple[FastAPI, GateNode, httpx2.AsyncClient]]:
    app, gate = gated_app(make_settings(database_url, tmp_path, MAX_EXECUTION_TIME=2000))
    async with serving(app) as client:
        yield app, gate, client


def _call(
    client: httpx2.AsyncClient, deployment: dict[str, Any], body: Any, key: str | None = KEY, **headers: str
) -> asyncio.Task[httpx2.Response]:
    all_headers = {**bearer(deployment["apiKey"]), **headers}
    if key is not None:
        all_headers["Idempotency-Key"] = key
    return asyncio.create_task(
        client.post(f"/api/workflows/{deployment['slug']}/execute", json=body, headers=all_headers)
    )


async def _runs(client: httpx2.AsyncClient, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"/api/workflows/{deployment['slug']}/executions", headers=bearer(deployment["apiKey"]))
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


async def test_the_same_key_and_body_replay_the_first_response_without_running_again(
    client: httpx2.AsyncClient,
) -> None:
    deployment = await deploy(client)
    first = await _call(client, deployment, {"name": "Ada"})
    again = await _call(client, deployment, {"name": "Ada"})
    quoted = await _call(client, deployment, {"name": "Ada"}, key=f'"{KEY}"')

    assert first.status_code == 200
    assert "Idempotent-Replayed" not in first.headers
    assert again.status_code == 200
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert again.headers["content-type"] == "application/json"
    assert again.headers["RateLimit-Remaining"] == "98"
    assert quoted.content == first.content
    assert len(await _runs(client, deployment)) == 1


async def test_the_same_key_with_another_body_is_refused(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    assert (await _call(client, deployment, {"name": "Ada"})).status_code == 200
    other_body = await _call(client, deployment, {"name": "Grace"})
    other_type = await client.post(
        f"/api/workflows/{deployment['slug']}/execute",
        content=b'{"name": "Ada"}',
        headers={**bearer(deployment["apiKey"]), "Idempotency-Key": KEY, "Content-Type": "text/plain"},
    )
    for refused in (other_body, other_type):
        assert refused.status_code == 409
        assert refused.json()["code"] == "idempotency_key_reused"
        assert refused.json()["success"] is False
        assert "RateLimit-Remaining" in refused.headers
    assert len(await _runs(client, deployment)) == 1


async def test_a_duplicate_while_the_first_still_runs_is_refused(
    gated: tuple[FastAPI, GateNode, httpx2.AsyncClient],
) -> None:
    _, gate, client = gated
    deployment = await deploy(client, GATED_WORKFLOW, name="Slow")
    first = _call(client, deployment, {"name": "Ada"})
    await gate.wait_inside(1)
    duplicate = await _call(client, deployment, {"name": "Ada"})
    gate.open()
    assert (await first).status_code == 200
    assert duplicate.status_code == 409
    assert duplicate.json()["code"] == "idempotency_key_in_progress"
    assert duplicate.headers["Retry-After"] == "1"
    replay = await _call(client, deployment, {"name": "Ada"})
    assert replay.headers["Idempotent-Replayed"] == "true"
    assert gate.entered == 1


async def test_client_errors_are_replayed_too(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    first = await _call(client, deployment, {"name": 42})
    again = await _call(client, deployment, {"name": 42})
    assert first.status_code == 400
    assert first.json()["code"] == "input_validation_failed"
    assert again.status_code == 400
    assert again.content == first.content
    assert again.headers["Idempotent-Replayed"] == "true"
    assert len(await _runs(client, deployment)) == 1


async def test_a_timeout_is_not_stored_so_a_retry_with_the_key_runs(database_url: str, tmp_path: Path) -> None:
    app, gate = gated_app(make_settings(database_url, tmp_path, MAX_EXECUTION_TIME=200))
    async with serving(app) as client:
        deployment = await deploy(client, GATED_WORKFLOW, name="Slow")
        timed_out = await _call(client, deployment, {"name": "Ada"})
        gate.open()
        retried = await _call(client, deployment, {"name": "Ada"})
        replayed = await _call(client, deployment, {"name": "Ada"})
        runs = await _runs(client, deployment)
    assert timed_out.status_code == 504
    assert retried.status_code == 200
    assert "Idempotent-Replayed" not in retried.headers
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert sorted(run["status"] for run in runs) == ["success", "timeout"]


async def test_keys_are_scoped_to_the_deployment(client: httpx2.AsyncClient) -> None:
    first = await deploy(client, name="First")
    second = await deploy(client, name="Second")
    one = await _call(client, first, {"name": "Ada"})
    two = await _call(client, second, {"name": "Ada"})
    assert one.status_code == two.status_code == 200
    assert "Idempotent-Replayed" not in two.headers
    assert one.json()["metadata"]["workflow"]["slug"] != two.json()["metadata"]["workflow"]["slug"]


@pytest.mark.parametrize("key", ["", "x" * 256, "caf\u00e9", "tab\there"])
async def test_a_malformed_key_is_refused(client: httpx2.AsyncClient, key: str) -> None:
    deployment = await deploy(client)
    response = await client.post(
        f"/api/workflows/{deployment['slug']}/execute",
        json={"name": "Ada"},
        headers=[
            (b"authorization", f"Bearer {deployment['apiKey']}".encode()),
            (b"idempotency-key", key.encode("latin-1")),
        ],
    )
    assert response.status_code == 400
    assert response.json()["code"] == "invalid_idempotency_key"
    assert await _runs(client, deployment) == []


async def test_an_expired_key_runs_again_and_is_pruned(app: FastAPI, client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    assert (await _call(client, deployment, {"name": "Ada"})).status_code == 200
    database = runtime_of(app).database
    async with database.write() as conn:
        await conn.execute(update(idempotency_keys).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert await runtime_of(app).idempotent.prune() == 1
    assert (await _call(client, deployment, {"name": "Grace"})).status_code == 200
    async with database.write() as conn:
        await conn.execute(update(idempotency_keys).values(expires_at=utcnow() - timedelta(seconds=1)))
    rerun = await _call(client, deployment, {"name": "Ada"})
    assert rerun.status_code == 200
    assert "Idempotent-Replayed" not in rerun.headers
    assert len(await _runs(client, deployment)) == 3


async def test_a_claim_abandoned_by_a_dead_process_is_taken_over_after_its_lease(
    app: FastAPI, client: httpx2.AsyncClient
) -> None:
    deployment = await deploy(client)
    assert (await _call(client, deployment, {"name": "Ada"})).status_code == 200
    database = runtime_of(app).database
    async with database.write() as conn:
        await conn.execute(update(idempotency_keys).values(state="in_progress", response_status=None))
    assert (await _call(client, deployment, {"name": "Ada"})).status_code == 409
    async with database.write() as conn:
        await conn.execute(update(idempotency_keys).values(locked_until=utcnow() - timedelta(seconds=1)))
    taken_over = await _call(client, deployment, {"name": "Ada"})
    assert taken_over.status_code == 200
    assert "Idempotent-Replayed" not in taken_over.headers
    async with database.read() as conn:
        states = (await conn.execute(select(idempotency_keys.c.state))).scalars().all()
    assert states == ["completed"]


async def test_without_a_key_nothing_is_stored(app: FastAPI, client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    for _ in range(2):
        assert (await _call(client, deployment, {"name": "Ada"}, key=None)).status_code == 200
    async with runtime_of(app).database.read() as conn:
        assert (await conn.execute(select(idempotency_keys))).all() == []
    assert len(await _runs(client, deployment)) == 2


async def test_a_run_whose_claim_was_taken_away_still_answers_its_caller(
    gated: tuple[FastAPI, GateNode, httpx2.AsyncClient],
) -> None:
    app, gate, client = gated
    deployment = await deploy(client, GATED_WORKFLOW, name="Slow")
    first = _call(client, deployment, {"name": "Ada"})
    await gate.wait_inside(1)
    async with runtime_of(app).database.write() as conn:
        await conn.execute(idempotency_keys.delete())
    gate.open()
    answered = await first
    again = await _call(client, deployment, {"name": "Ada"})
    assert answered.status_code == 200
    assert again.status_code == 200
    assert "Idempotent-Replayed" not in again.headers
    assert gate.entered == 2
