"""Rate limits and idempotency keys hold across server processes sharing one database (and Redis)."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx2
import pytest

from clara_runner.service.deployments.traffic import MAX_WINDOW_MS
from tests.support import REDIS_URL, LiveServer, bearer, deploy_to, history_of, server_env

REQUESTS = 200
LIMIT = 50


@contextmanager
def servers(env: dict[str, str], count: int = 2) -> Iterator[list[LiveServer]]:
    """`count` server processes on the same database."""
    started: list[LiveServer] = []
    try:
        for _ in range(count):
            started.append(LiveServer(env))
        yield started
    finally:
        for server in started:
            server.stop()


def _client() -> httpx2.AsyncClient:
    return httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=REQUESTS))


@pytest.mark.parametrize("store", ["database", "redis"])
async def test_two_processes_admit_exactly_the_limit(database_url: str, tmp_path: Path, store: str) -> None:
    extra = {"REDIS_URL": REDIS_URL} if store == "redis" else {}
    with servers(server_env(database_url, tmp_path / "data", **extra)) as (first, second):
        async with _client() as http:
            deployment = await deploy_to(
                http, first.base_url, name="Shared", rateLimit={"maxRequests": LIMIT, "windowMs": MAX_WINDOW_MS}
            )
            targets = [first, second] * (REQUESTS // 2)
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
                        json={"name": f"caller {index}"},
                        headers=bearer(deployment["apiKey"]),
                    )
                    for index, server in enumerate(targets)
                )
            )
            history = await history_of(http, second.base_url, deployment)

    unexpected = [response.text for response in responses if response.status_code not in (200, 429)]
    assert Counter(response.status_code for response in responses) == {200: LIMIT, 429: REQUESTS - LIMIT}, unexpected[
        :3
    ]
    for response in responses:
        assert response.headers["RateLimit-Limit"] == str(LIMIT)
        if response.status_code == 429:
            assert response.json()["code"] == "rate_limited"
            assert int(response.headers["Retry-After"]) >= 1
            assert response.headers["RateLimit-Remaining"] == "0"
    if store == "database":
        remaining = sorted(int(r.headers["RateLimit-Remaining"]) for r in responses if r.status_code == 200)
        assert remaining == list(range(LIMIT))
    assert len(history) == LIMIT
    assert {entry["status"] for entry in history} == {"success"}


async def test_one_run_per_idempotency_key_across_processes(database_url: str, tmp_path: Path) -> None:
    with servers(server_env(database_url, tmp_path / "data")) as (first, second):
        async with _client() as http:
            deployment = await deploy_to(http, first.base_url, name="Shared")
            headers = {**bearer(deployment["apiKey"]), "Idempotency-Key": "shared-key"}
            responses = await asyncio.gather(
                *(
                    http.post(
                        f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
                        json={"name": "Ada"},
                        headers=headers,
                    )
                    for server in [first, second] * 10
                )
            )
            history = await history_of(http, first.base_url, deployment)

    fresh = [r for r in responses if r.status_code == 200 and "Idempotent-Replayed" not in r.headers]
    replayed = [r for r in responses if r.headers.get("Idempotent-Replayed") == "true"]
    in_progress = [r for r in responses if r.status_code == 409]
    assert len(fresh) == 1
    assert len(fresh) + len(replayed) + len(in_progress) == len(responses)
    assert all(r.content == fresh[0].content for r in replayed)
    assert all(r.json()["code"] == "idempotency_key_in_progress" for r in in_progress)
    assert len(history) == 1
