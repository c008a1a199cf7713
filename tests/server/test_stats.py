"""GET /api/workflows/{slug}/stats and the deployment list's summaries, through the API, and the roll-ups
they read kept equal to the rows by real traffic."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import httpx
import httpx2
from fastapi import FastAPI

from tests.apps import runtime_of
from tests.fakes.openai_server import FakeOpenAI
from tests.server.runs_support import deployed
from tests.server.test_output_check import JSON_ECHO
from tests.store.test_rollups import recounted, stored_rollups
from tests.support import HELLO_WORLD, ask_flow, bearer, deploy


def _hour(moment: datetime) -> str:
    return moment.replace(minute=0, second=0, microsecond=0).isoformat(timespec="milliseconds").replace("+00:00", "Z")


async def test_stats_count_runs_by_status_mismatches_and_durations_per_hour(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client, JSON_ECHO, name="Json Echo")
    headers = bearer(deployment["apiKey"])
    for data in ('{"a": 1}', "not json", "[1]"):
        assert (await client.post("/api/workflows/json-echo/execute", json={"data": data}, headers=headers)).is_success
    invalid = await client.post("/api/workflows/json-echo/execute", json={"unknown": 1}, headers=headers)
    assert invalid.status_code == 400

    response = await client.get("/api/workflows/json-echo/stats", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["workflow"] == {"id": deployment["id"], "slug": "json-echo"}
    assert body["bucket"] == "hour"
    assert len(body["buckets"]) in (24, 25)
    totals = body["totals"]
    history = (await client.get("/api/workflows/json-echo/executions", headers=headers)).json()["executions"]
    statuses = [entry["status"] for entry in history]
    assert totals["runs"] == len(history)
    assert totals["byStatus"] == {
        status: statuses.count(status)
        for status in ("queued", "running", "success", "error", "timeout", "cancelled", "interrupted")
    }
    assert totals["outputSchemaMismatches"] == 1
    assert totals["successRate"] == statuses.count("success") / len(statuses)
    durations = sorted(entry["durationMs"] for entry in history)
    assert totals["durationMs"]["p99"] == durations[-1]
    assert totals["durationMs"]["p50"] in durations
    current = body["buckets"][-1]
    assert current["start"] == _hour(datetime.now(UTC))
    assert {key: current[key] for key in ("runs", "byStatus", "outputSchemaMismatches")} == {
        key: totals[key] for key in ("runs", "byStatus", "outputSchemaMismatches")
    }
    assert [bucket["runs"] for bucket in body["buckets"][:-2]] == [0] * (len(body["buckets"]) - 2)
    assert body["buckets"][0]["durationMs"] == {"p50": None, "p95": None, "p99": None}
    assert body["buckets"][0]["successRate"] is None


async def test_stats_by_day_over_a_chosen_range_for_the_admin(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    await client.post("/api/workflows/hello-world/execute", json={"name": "a"}, headers=bearer(deployment["apiKey"]))
    today = datetime.now(UTC).date()
    start, end = (today - timedelta(days=6)).isoformat(), (today + timedelta(days=1)).isoformat()
    response = await client.get("/api/workflows/hello-world/stats", params={"from": start, "to": end, "bucket": "day"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert (body["from"], body["to"], body["bucket"]) == (f"{start}T00:00:00.000Z", f"{end}T00:00:00.000Z", "day")
    assert [bucket["start"][:10] for bucket in body["buckets"]] == [
        (today - timedelta(days=6 - n)).isoformat() for n in range(7)
    ]
    assert [bucket["runs"] for bucket in body["buckets"]] == [0] * 6 + [1]
    assert body["totals"]["successRate"] == 1.0


async def test_stats_parameters_are_checked(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    cases = {
        "bucket=week": "bucket must be hour or day",
        "from=yesterday": "from must be an ISO 8601 date and time with a zone",
        "to=2026-12-01T00:00:00": "to must be an ISO 8601 date and time with a zone",
        "from=2026-12-02&to=2026-12-01": "from must be earlier than to",
        "from=2020-01-01&to=2026-01-01&bucket=hour": "the range holds more than 1000 hours",
    }
    for query, problem in cases.items():
        response = await client.get(f"/api/workflows/hello-world/stats?{query}")
        assert response.status_code == 400, query
        assert response.json()["code"] == "validation_failed"
        assert response.json()["validationErrors"][0].startswith(problem), response.json()


async def test_stats_need_the_deployments_key_or_the_admin(
    client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient
) -> None:
    first = await deploy(client, name="First")
    await deploy(client, name="Second")
    assert (await remote_client.get("/api/workflows/first/stats")).json()["code"] == "missing_authorization"
    other = await remote_client.get("/api/workflows/second/stats", headers=bearer(first["apiKey"]))
    assert (other.status_code, other.json()["code"]) == (403, "access_denied")
    missing = await remote_client.get("/api/workflows/nothing/stats", headers=bearer(first["apiKey"]))
    assert (missing.status_code, missing.json()["code"]) == (404, "workflow_not_found")
    assert (await remote_client.get("/api/workflows/first/stats", headers=bearer(first["apiKey"]))).status_code == 200


async def test_the_deployment_list_summarises_each_deployments_last_24_hours(client: httpx2.AsyncClient) -> None:
    busy = await deploy(client, JSON_ECHO, name="Busy")
    await deploy(client, name="Idle")
    for data in ('{"a": 1}', "[2]", "[3]"):
        await client.post("/api/workflows/busy/execute", json={"data": data}, headers=bearer(busy["apiKey"]))
    listed = {item["slug"]: item for item in (await client.get("/api/deployments")).json()["deployments"]}
    busy_stats, idle_stats = listed["busy"]["stats"], listed["idle"]["stats"]
    assert (busy_stats["runs"], busy_stats["successRate"]) == (3, 1.0)
    assert busy_stats["durationMs"]["p50"] <= busy_stats["durationMs"]["p95"]
    assert busy_stats["lastRunAt"] == listed["busy"]["lastExecuted"]
    end = datetime.fromisoformat(busy_stats["to"])
    assert datetime.fromisoformat(busy_stats["from"]) == end - timedelta(hours=24)
    assert idle_stats == {**idle_stats, "runs": 0, "successRate": None, "lastRunAt": None}
    assert idle_stats["durationMs"] == {"p50": None, "p95": None}


async def test_stats_sum_the_tokens_llm_nodes_reported(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    asking = await deployed(http, base_url, "Ask", ask_flow())
    plain = await deployed(http, base_url, "Plain", HELLO_WORLD)
    for _ in range(2):
        answer = await http.post(
            f"{base_url}/api/workflows/ask/execute", json={"question": "hi"}, headers=bearer(asking["apiKey"])
        )
        assert answer.status_code == 200, answer.text
    await http.post(f"{base_url}/api/workflows/plain/execute", json={"name": "a"}, headers=bearer(plain["apiKey"]))
    assert len(openai_server.completions()) == 2

    asked = (await http.get(f"{base_url}/api/workflows/ask/stats", headers=bearer(asking["apiKey"]))).json()
    assert asked["totals"]["tokens"] == {"promptTokens": 22, "completionTokens": 14, "totalTokens": 36}
    assert asked["buckets"][-1]["tokens"] == asked["totals"]["tokens"]
    assert asked["buckets"][0]["tokens"] is None
    untouched = (await http.get(f"{base_url}/api/workflows/plain/stats", headers=bearer(plain["apiKey"]))).json()
    assert (untouched["totals"]["runs"], untouched["totals"]["tokens"]) == (1, None)


async def test_rollups_equal_the_rows_after_sync_async_and_failed_runs(
    app: FastAPI, client: httpx2.AsyncClient
) -> None:
    echo = await deploy(client, JSON_ECHO, name="Json Echo")
    failing = await deploy(client, ask_flow("http://127.0.0.1:9/v1"), name="Unreachable Model")  # egress blocked
    for data in ('{"a": 1}', "not json", "[1]"):
        await client.post("/api/workflows/json-echo/execute", json={"data": data}, headers=bearer(echo["apiKey"]))
    failed = await client.post(
        "/api/workflows/unreachable-model/execute", json={"question": "hi"}, headers=bearer(failing["apiKey"])
    )
    assert failed.json()["code"] == "egress_blocked", failed.text
    status_urls = []
    for data in ('{"b": 2}', "still not json"):
        accepted = await client.post(
            "/api/workflows/json-echo/execute?mode=async", json={"data": data}, headers=bearer(echo["apiKey"])
        )
        assert accepted.status_code == 202, accepted.text
        status_urls.append(accepted.json()["statusUrl"].removeprefix("http://localhost"))
    for url in status_urls:
        for _ in range(400):
            execution = (await client.get(url, headers=bearer(echo["apiKey"]))).json()["execution"]
            if execution["status"] not in ("queued", "running"):
                break
            await asyncio.sleep(0.025)

    database = runtime_of(app).database
    rollups = await stored_rollups(database)
    assert rollups == await recounted(database)
    by_status = {status: sum(rollup[3] for rollup in rollups if rollup[2] == status) for status in ("success", "error")}
    assert by_status == {"success": 5, "error": 1}
    assert sum(rollup[4] for rollup in rollups) == 2
