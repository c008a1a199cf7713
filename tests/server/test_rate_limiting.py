"""Rate limits through the HTTP API, in one process (the multi-process test is in tests/e2e)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2

from tests.apps import client_for
from tests.support import bearer, deploy

BAD_KEY = "clara_sk_" + "0" * 64


async def _execute(client: httpx2.AsyncClient, deployment: dict[str, Any], body: Any = None) -> httpx2.Response:
    return await client.post(
        f"/api/workflows/{deployment['slug']}/execute",
        json={"name": "Ada"} if body is None else body,
        headers=bearer(deployment["apiKey"]),
    )


async def _history(client: httpx2.AsyncClient, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get(f"/api/workflows/{deployment['slug']}/executions", headers=bearer(deployment["apiKey"]))
    assert response.status_code == 200, response.text
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


async def test_every_response_after_auth_carries_the_quota_and_the_limit_is_enforced(
    database_url: str, tmp_path: Path
) -> None:
    async with client_for(database_url, tmp_path, RATE_LIMIT_MAX_REQUESTS=3, RATE_LIMIT_WINDOW_MS=60000) as client:
        deployment = await deploy(client)
        first = await _execute(client, deployment)
        invalid = await _execute(client, deployment, body={"name": 5})
        third = await _execute(client, deployment)
        refused = await _execute(client, deployment)

    assert first.status_code == 200
    assert first.headers["RateLimit-Limit"] == "3"
    assert first.headers["RateLimit-Remaining"] == "2"
    assert 1 <= int(first.headers["RateLimit-Reset"]) <= 60
    assert first.headers["RateLimit-Policy"] == "3;w=60"
    assert invalid.status_code == 400
    assert invalid.headers["RateLimit-Remaining"] == "1"
    assert third.headers["RateLimit-Remaining"] == "0"
    assert refused.status_code == 429
    body = refused.json()
    assert body["success"] is False
    assert body["code"] == "rate_limited"
    assert body["error"] == "Too many requests"
    assert "3 requests per 60 seconds" in body["message"]
    assert refused.headers["RateLimit-Remaining"] == "0"
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert body["retryAfter"] == int(refused.headers["Retry-After"])


async def test_requests_that_fail_auth_use_no_quota(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path, RATE_LIMIT_MAX_REQUESTS=2) as client:
        deployment = await deploy(client)
        path = f"/api/workflows/{deployment['slug']}/execute"
        for headers in ({}, bearer(BAD_KEY), bearer("not-a-key")):
            for _ in range(3):
                refused = await client.post(path, json={"name": "Ada"}, headers=headers)
                assert refused.status_code == 401
                assert "RateLimit-Limit" not in refused.headers
        statuses = [(await _execute(client, deployment)).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


async def test_rate_limited_requests_leave_no_execution_row(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path, RATE_LIMIT_MAX_REQUESTS=2) as client:
        deployment = await deploy(client)
        statuses = [(await _execute(client, deployment)).status_code for _ in range(5)]
        history = await _history(client, deployment)
    assert statuses == [200, 200, 429, 429, 429]
    assert [entry["status"] for entry in history] == ["success", "success"]


async def test_each_deployment_has_its_own_quota_and_a_regenerated_key_keeps_it(
    database_url: str, tmp_path: Path
) -> None:
    async with client_for(database_url, tmp_path, RATE_LIMIT_MAX_REQUESTS=1) as client:
        first = await deploy(client, name="First")
        second = await deploy(client, name="Second")
        assert (await _execute(client, first)).status_code == 200
        assert (await _execute(client, first)).status_code == 429
        assert (await _execute(client, second)).status_code == 200
        for _ in range(2):
            regenerated = await client.post(
                f"/api/workflows/{first['id']}/regenerate-key", headers=bearer(first["apiKey"])
            )
            first = {**first, "apiKey": regenerated.json()["workflow"]["apiKey"]}
            refused = await _execute(client, first)
            assert (refused.status_code, refused.json()["code"]) == (429, "rate_limited"), "no fresh quota"


async def test_a_deployment_can_override_the_server_limit_at_deploy(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path, RATE_LIMIT_MAX_REQUESTS=100) as client:
        strict = await deploy(client, name="Strict", rateLimit={"maxRequests": 1, "windowMs": 60000})
        unlimited = await deploy(client, name="Unlimited", rateLimit={"enabled": False}, maxConcurrency=3)
        default = await deploy(client, name="Default")
        strict_statuses = [(await _execute(client, strict)).status_code for _ in range(2)]
        free = [await _execute(client, unlimited) for _ in range(3)]
        details = (await client.get(f"/api/workflows/{unlimited['slug']}")).json()["workflow"]
        default_response = await _execute(client, default)

    assert strict["rateLimit"] == {"maxRequests": 1, "windowMs": 60000}
    assert strict_statuses == [200, 429]
    assert all(response.status_code == 200 for response in free)
    assert all("RateLimit-Limit" not in response.headers for response in free)
    assert details["rateLimit"] == {"enabled": False}
    assert details["maxConcurrency"] == 3
    assert default["rateLimit"] is None
    assert default_response.headers["RateLimit-Policy"] == "100;w=3600"


async def test_rate_limiting_can_be_switched_off_for_the_server(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path, RATE_LIMIT_ENABLED="false", RATE_LIMIT_MAX_REQUESTS=1) as client:
        deployment = await deploy(client)
        responses = [await _execute(client, deployment) for _ in range(3)]
        opted_in = await deploy(client, name="Opted in", rateLimit={"enabled": True})
        opted_in_statuses = [(await _execute(client, opted_in)).status_code for _ in range(2)]
    assert [response.status_code for response in responses] == [200, 200, 200]
    assert all("RateLimit-Limit" not in response.headers for response in responses)
    assert opted_in_statuses == [200, 429]


async def test_bad_traffic_options_are_all_reported_at_deploy(client: httpx2.AsyncClient) -> None:
    response = await client.post(
        "/api/deploy",
        json={
            "name": "Bad options",
            "workflow": {"nodes": [], "connections": []},
            "rateLimit": {"maxRequests": 0, "windowMs": 1500, "enabled": "yes", "burst": 3},
            "maxConcurrency": True,
        },
    )
    assert response.status_code == 400
    problems = response.json()["validationErrors"]
    assert problems == [
        "rateLimit has unknown fields: burst (allowed: enabled, maxRequests, windowMs)",
        "rateLimit.enabled must be true or false",
        "rateLimit.maxRequests must be a whole number from 1 to 1000000000",
        "rateLimit.windowMs must be a whole number of seconds in milliseconds (a multiple of 1000), "
        "from 1000 to 2678400000",
        "maxConcurrency must be a whole number from 1 to 10000, or null",
    ]
    not_an_object = await client.post(
        "/api/deploy", json={"name": "Bad", "workflow": {"nodes": [], "connections": []}, "rateLimit": 5}
    )
    assert not_an_object.status_code == 400
    assert not_an_object.json()["validationErrors"][0].startswith("rateLimit must be an object")
