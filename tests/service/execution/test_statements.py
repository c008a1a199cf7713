"""What one execute costs the database, counted statement by statement, so "one write" cannot drift."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI

from clara_runner.server.app import create_app
from tests.apps import runtime_of
from tests.support import asgi_client, bearer, deploy, make_settings, on_postgres


@pytest.fixture
async def unlimited_app(database_url: str, tmp_path: Path) -> AsyncIterator[FastAPI]:
    application = create_app(make_settings(database_url, tmp_path / "data", RATE_LIMIT_ENABLED="false"))
    async with application.router.lifespan_context(application):
        yield application


def _kind(statement: str) -> str:
    """The statement's first words: enough to tell what it does."""
    words = statement.split()
    return " ".join(words[:3] if words[0] in ("INSERT", "UPDATE", "SELECT", "WITH") else words[:2])


async def test_a_warm_execute_sends_one_write_and_nothing_else(unlimited_app: FastAPI) -> None:
    async with asgi_client(unlimited_app) as client:
        key = (await deploy(client))["apiKey"]
        warm = await client.post("/api/workflows/hello-world/execute", json={"name": "warm"}, headers=bearer(key))
        assert warm.status_code == 200
        statements: list[str] = []
        runtime_of(unlimited_app).database.statement_observers.append(statements.append)
        response = await client.post("/api/workflows/hello-world/execute", json={"name": "Ada"}, headers=bearer(key))
        runtime_of(unlimited_app).database.statement_observers.clear()
    assert response.status_code == 200
    if on_postgres():
        assert [_kind(statement) for statement in statements] == ["WITH batch AS"]
        assert "INSERT INTO executions" in statements[0]
        assert "UPDATE deployments" in statements[0]
        assert "INSERT INTO execution_rollups" in statements[0]
    else:
        assert [_kind(statement) for statement in statements] == [
            "BEGIN IMMEDIATE",
            "INSERT INTO executions",
            "UPDATE deployments SET",
            "UPDATE api_keys SET",
            "INSERT INTO execution_rollups",
            "COMMIT",
        ]


async def test_concurrent_executes_share_their_writes(unlimited_app: FastAPI) -> None:
    async with asgi_client(unlimited_app) as client:
        key = (await deploy(client))["apiKey"]
        await client.post("/api/workflows/hello-world/execute", json={"name": "warm"}, headers=bearer(key))
        statements: list[str] = []
        runtime_of(unlimited_app).database.statement_observers.append(statements.append)

        async def call(index: int) -> httpx2.Response:
            return await client.post(
                "/api/workflows/hello-world/execute", json={"name": f"caller {index}"}, headers=bearer(key)
            )

        responses = await asyncio.gather(*(call(index) for index in range(30)))
        runtime_of(unlimited_app).database.statement_observers.clear()
    assert [response.status_code for response in responses] == [200] * 30
    writes = [statement for statement in statements if _kind(statement) in ("WITH batch AS", "BEGIN IMMEDIATE")]
    assert 1 <= len(writes) < 30, "rows of concurrent runs are committed together"


async def test_requests_arriving_when_the_key_cache_expired_share_one_key_lookup(
    database_url: str, tmp_path: Path
) -> None:
    application = create_app(
        make_settings(database_url, tmp_path / "data", RATE_LIMIT_ENABLED="false", KEY_CACHE_SECONDS="0.05")
    )
    async with application.router.lifespan_context(application), asgi_client(application) as client:
        key = (await deploy(client))["apiKey"]
        await client.post("/api/workflows/hello-world/execute", json={"name": "warm"}, headers=bearer(key))
        await asyncio.sleep(0.1)
        statements: list[str] = []
        runtime_of(application).database.statement_observers.append(statements.append)
        responses = await asyncio.gather(
            *(
                client.post("/api/workflows/hello-world/execute", json={"name": f"n{i}"}, headers=bearer(key))
                for i in range(20)
            )
        )
        runtime_of(application).database.statement_observers.clear()
    assert [response.status_code for response in responses] == [200] * 20
    assert sum("FROM api_keys" in statement for statement in statements) == 1
