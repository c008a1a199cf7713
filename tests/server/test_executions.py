from __future__ import annotations

import re
import uuid
from datetime import timedelta

import httpx2
import pytest
from sqlalchemy import insert

from clara_runner.clock import utcnow
from clara_runner.service.execution.runs import CANCEL_REQUESTED
from clara_runner.store import executions as execution_queries
from clara_runner.store import leases as lease_queries
from clara_runner.store.database import Database
from clara_runner.store.tables import executions
from tests.support import bearer, deploy


async def run_times(client: httpx2.AsyncClient, key: str, count: int) -> None:
    for index in range(count):
        response = await client.post(
            "/api/workflows/hello-world/execute", json={"name": f"n{index}"}, headers=bearer(key)
        )
        assert response.status_code == 200


async def test_has_more_is_exact_at_the_page_boundary(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    await run_times(client, key, 4)
    url = "/api/workflows/hello-world/executions"
    exact = (await client.get(url, params={"limit": 4}, headers=bearer(key))).json()
    assert len(exact["executions"]) == 4
    assert exact["pagination"] == {"limit": 4, "offset": 0, "hasMore": False}
    partial = (await client.get(url, params={"limit": 3}, headers=bearer(key))).json()
    assert partial["pagination"]["hasMore"] is True
    rest = (await client.get(url, params={"limit": 3, "offset": 3}, headers=bearer(key))).json()
    assert [e["inputs"]["name"] for e in rest["executions"]] == ["n0"]
    assert rest["pagination"] == {"limit": 3, "offset": 3, "hasMore": False}
    newest_first = [e["inputs"]["name"] for e in exact["executions"]]
    assert newest_first == ["n3", "n2", "n1", "n0"]


async def test_status_filter(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    await run_times(client, key, 2)
    await client.post("/api/workflows/hello-world/execute", json={}, headers=bearer(key))
    url = "/api/workflows/hello-world/executions"
    errors = (await client.get(url, params={"status": "error"}, headers=bearer(key))).json()["executions"]
    assert [e["errorCode"] for e in errors] == ["input_validation_failed"]
    bad = await client.get(url, params={"status": "weird"}, headers=bearer(key))
    assert (bad.status_code, bad.json()["code"]) == (400, "invalid_parameter")


@pytest.mark.parametrize(
    ("params", "problem"),
    [
        ({"limit": "0"}, "limit must be a positive integer"),
        ({"limit": "abc"}, "limit must be a positive integer"),
        ({"limit": "1001"}, "limit must be 1000 or less"),
        ({"offset": "-1"}, "offset must be a non-negative integer"),
    ],
)
async def test_pagination_errors_use_the_originals_words(
    client: httpx2.AsyncClient, params: dict[str, str], problem: str
) -> None:
    key = (await deploy(client))["apiKey"]
    response = await client.get("/api/workflows/hello-world/executions", params=params, headers=bearer(key))
    assert response.status_code == 400
    assert response.json()["validationErrors"] == [problem]


async def test_history_is_only_for_the_keys_own_workflow(
    remote_client: httpx2.AsyncClient, client: httpx2.AsyncClient
) -> None:
    first = await deploy(client, name="First")
    await deploy(client, name="Second")
    other = await remote_client.get("/api/workflows/second/executions", headers=bearer(first["apiKey"]))
    assert (other.status_code, other.json()["code"]) == (403, "access_denied")
    missing = await remote_client.get("/api/workflows/third/executions", headers=bearer(first["apiKey"]))
    assert (missing.status_code, missing.json()["code"]) == (404, "workflow_not_found")
    anonymous = await remote_client.get("/api/workflows/first/executions")
    assert (anonymous.status_code, anonymous.json()["code"]) == (401, "missing_authorization")
    own = await remote_client.get("/api/workflows/first/executions", headers=bearer(first["apiKey"]))
    assert own.status_code == 200


async def test_the_local_admin_reads_any_history(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    await run_times(client, key, 1)
    response = await client.get("/api/workflows/hello-world/executions")
    assert response.status_code == 200
    assert len(response.json()["executions"]) == 1


async def test_trace_times_are_iso_8601_in_history_and_in_the_execution(client: httpx2.AsyncClient) -> None:
    key = (await deploy(client))["apiKey"]
    executed = await client.post("/api/workflows/hello-world/execute", json={"name": "A"}, headers=bearer(key))
    execution_id = executed.json()["metadata"]["executionId"]
    history = (await client.get("/api/workflows/hello-world/executions", headers=bearer(key))).json()
    execution = (await client.get(f"/api/executions/{execution_id}", headers=bearer(key))).json()["execution"]
    for trace in (history["executions"][0]["trace"], execution["trace"]):
        started = [entry["startedAt"] for entry in trace]
        assert len(started) == 2
        assert all(re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", moment) for moment in started), started


async def test_a_cancel_of_a_run_whose_process_does_not_answer_is_recorded_and_answered_202(
    client: httpx2.AsyncClient, database_url: str
) -> None:
    """The run's owner holds a live lease but never polls (busy, or about to be judged dead): the cancel is
    left on the row for it, and the caller learns the run is still going."""
    deployment = await deploy(client)
    owner, execution_id, now = uuid.uuid4(), uuid.uuid4(), utcnow()
    database = Database(database_url)
    async with database.write() as conn:
        await lease_queries.register(
            conn, owner, kind="server", host="elsewhere", pid=1, now=now, expires_at=now + timedelta(hours=1)
        )
        await conn.execute(
            insert(executions).values(
                id=execution_id,
                deployment_id=uuid.UUID(deployment["id"]),
                version=1,
                status="running",
                created_at=now,
                owner_id=owner,
            )
        )

    cancel = await client.post(f"/api/executions/{execution_id}/cancel", headers=bearer(deployment["apiKey"]))

    async with database.read() as conn:
        requested = await execution_queries.cancels_requested(conn, owner)
    await database.close()
    assert cancel.status_code == 202, cancel.text
    assert cancel.json()["execution"]["status"] == "running"
    assert requested == [(execution_id, CANCEL_REQUESTED)]
