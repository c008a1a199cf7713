"""No run disappears: the server is killed, stopped and cut off from its database while it serves, and
every run that got as far as an upstream call is accounted for by exactly one row with a final status.

Real processes throughout: `clara-runner serve` in a child process, a loopback OpenAI-compatible model
server that records every call it receives, and (for the outage) a private PostgreSQL cluster that is
stopped and started under load.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections import Counter
from collections.abc import AsyncIterator, Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.store.migrate import upgrade
from tests.e2e.lifecycle import FINAL, LEASE_SECONDS, lifecycle_env
from tests.fakes.openai_server import FakeOpenAI
from tests.postgres_cluster import PrivateCluster
from tests.support import HELLO_WORLD, REDIS_URL, LiveServer, ask_flow, bearer, deploy_to, history_of


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=60, limits=httpx2.Limits(max_connections=400)) as client:
        yield client


async def execute(
    http: httpx2.AsyncClient, server: LiveServer, deployment: dict[str, Any], body: dict[str, Any]
) -> httpx2.Response | Exception:
    """The response, or the error of a request whose connection broke."""
    try:
        return await http.post(
            f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
            json=body,
            headers=bearer(deployment["apiKey"]),
        )
    except httpx2.HTTPError as exc:
        return exc


async def settled_history(
    http: httpx2.AsyncClient, server: LiveServer, deployment: dict[str, Any], seconds: float
) -> list[dict[str, Any]]:
    """The history once no row is `queued` or `running` any more (failing after `seconds`)."""
    deadline = time.monotonic() + seconds
    while True:
        rows = await history_of(http, server.base_url, deployment)
        if all(row["status"] in FINAL for row in rows):
            return rows
        assert time.monotonic() < deadline, f"rows still unfinished: {Counter(row['status'] for row in rows)}"
        await asyncio.sleep(0.2)


async def execution_count(http: httpx2.AsyncClient, server: LiveServer, deployment: dict[str, Any]) -> int:
    response = await http.get(f"{server.base_url}/api/deployments?limit=1000")
    found = [item for item in response.json()["deployments"] if item["id"] == deployment["id"]]
    count: int = found[0]["executionCount"]
    return count


async def until(condition: Any, seconds: float, what: str) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.02)


def succeeded(responses: Sequence[httpx2.Response | Exception]) -> list[str]:
    """Execution ids of the runs that answered 200."""
    return [
        response.json()["metadata"]["executionId"]
        for response in responses
        if isinstance(response, httpx2.Response) and response.status_code == 200
    ]


async def test_kill_9_under_load_leaves_every_run_that_reached_its_upstream_call_interrupted(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI, http: httpx2.AsyncClient
) -> None:
    openai_server.delay = 60
    # The fast runs write only their final row however loaded the machine is: with the usual 50 ms, one
    # still going at the kill (150 at once on a busy machine) has a `running` row and is rightly left
    # interrupted. The slow runs write theirs before their model call either way.
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, RUN_RECORD_AFTER_MS="600000")
    slow_runs = 6
    with LiveServer(env) as server:
        ask = await deploy_to(http, server.base_url, ask_flow(), "Ask")
        hello = await deploy_to(http, server.base_url, HELLO_WORLD, "Hello")
        slow = [asyncio.create_task(execute(http, server, ask, {"question": f"q{i}"})) for i in range(slow_runs)]
        fast = [asyncio.create_task(execute(http, server, hello, {"name": f"n{i}"})) for i in range(150)]
        await until(lambda: len(openai_server.requests) == slow_runs, 30, "every slow run to call its model")
        server.process.kill()
        server.process.wait(timeout=10)
        answered = await asyncio.gather(*fast)
        broken = await asyncio.gather(*slow)
    assert all(isinstance(outcome, Exception) for outcome in broken), "the killed runs never answered"

    started = time.monotonic()
    with LiveServer(env) as restarted:
        asked = await settled_history(http, restarted, ask, seconds=4 * LEASE_SECONDS + 10)
        marked_after = time.monotonic() - started
        greeted = await history_of(http, restarted.base_url, hello)
        assert await execution_count(http, restarted, ask) == len(asked)
        assert await execution_count(http, restarted, hello) == len(greeted)
    assert len(asked) == len(openai_server.requests) == slow_runs, "every upstream call has its row"
    assert {(row["status"], row["errorCode"]) for row in asked} == {("interrupted", "process_lost")}
    assert marked_after < 4 * LEASE_SECONDS + 10
    rows = {row["id"]: row for row in greeted}
    for execution_id in succeeded(answered):
        assert rows[execution_id]["status"] == "success", "an answered run is a recorded run"
    assert all(row["status"] == "success" for row in greeted)


async def test_sigterm_lets_short_runs_finish_interrupts_long_ones_and_answers_everyone(
    database_url: str, tmp_path: Path, http: httpx2.AsyncClient
) -> None:
    grace = 3.0
    with FakeOpenAI() as quick_model, FakeOpenAI() as slow_model:
        quick_model.delay, slow_model.delay = 1.0, 60
        env = lifecycle_env(database_url, tmp_path / "data", quick_model, SHUTDOWN_GRACE_SECONDS=str(grace))
        with LiveServer(env) as server:
            quick = await deploy_to(http, server.base_url, ask_flow(quick_model.base_url), "Quick")
            slow = await deploy_to(http, server.base_url, ask_flow(slow_model.base_url), "Slow")
            long_runs = [asyncio.create_task(execute(http, server, slow, {"question": f"q{i}"})) for i in range(3)]
            await until(lambda: len(slow_model.requests) == 3, 30, "the long runs to call their model")
            short_runs = [asyncio.create_task(execute(http, server, quick, {"question": f"q{i}"})) for i in range(3)]
            await until(lambda: len(quick_model.requests) == 3, 30, "the short runs to call their model")

            stopping = time.monotonic()
            server.process.send_signal(signal.SIGTERM)
            await asyncio.sleep(0.3)
            refused = await execute(http, server, quick, {"question": "too late"})
            health = await http.get(f"{server.base_url}/health")
            finished = await asyncio.gather(*short_runs)
            interrupted = await asyncio.gather(*long_runs)
            exit_code = server.process.wait(timeout=grace + 10)
            stopped_after = time.monotonic() - stopping

        assert isinstance(refused, httpx2.Response)
        assert refused.status_code == 503
        assert refused.json()["code"] == "shutting_down"
        assert int(refused.headers["Retry-After"]) > 0
        assert health.status_code == 503
        assert len(quick_model.requests) == 3, "nothing new ran once the drain began"
        assert [response.status_code for response in finished if isinstance(response, httpx2.Response)] == [200] * 3
        for response in interrupted:
            assert isinstance(response, httpx2.Response)
            assert response.status_code == 503
            assert response.json()["code"] == "shutting_down"
            assert "executionId" in response.json()
        assert exit_code == -signal.SIGTERM, "uvicorn re-raises the signal after the clean shutdown"
        assert stopped_after < grace + 5

        with LiveServer(env) as restarted:
            quick_rows = await history_of(http, restarted.base_url, quick)
            slow_rows = await history_of(http, restarted.base_url, slow)
    assert Counter(row["status"] for row in quick_rows) == {"success": 3}
    assert {(row["status"], row["errorCode"]) for row in slow_rows} == {("interrupted", "server_shutdown")}
    assert {row["id"] for row in slow_rows} == {response.json()["executionId"] for response in interrupted}  # type: ignore[union-attr]


async def test_an_idempotency_key_held_by_a_killed_process_is_free_once_its_lease_expires(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI, http: httpx2.AsyncClient
) -> None:
    openai_server.delay = 60
    env = lifecycle_env(database_url, tmp_path / "data", openai_server)
    body = {"question": "once"}
    with LiveServer(env) as server:
        ask = await deploy_to(http, server.base_url, ask_flow(), "Ask")
        url = f"{server.base_url}/api/workflows/{ask['slug']}/execute"
        headers = {**bearer(ask["apiKey"]), "Idempotency-Key": "order-42"}
        first = asyncio.create_task(http.post(url, json=body, headers=headers))
        await until(lambda: len(openai_server.requests) == 1, 30, "the first request to call its model")
        server.process.kill()
        server.process.wait(timeout=10)
        with pytest.raises(httpx2.HTTPError):
            await first

    openai_server.delay = 0
    with LiveServer(env) as restarted:
        url = f"{restarted.base_url}/api/workflows/{ask['slug']}/execute"
        started = time.monotonic()
        while True:
            retried = await http.post(url, json=body, headers=headers)
            if retried.status_code != 409:
                break
            assert retried.json()["code"] == "idempotency_key_in_progress"
            assert time.monotonic() - started < 4 * LEASE_SECONDS + 10, "the claim outlived its owner's lease"
            await asyncio.sleep(0.25)
        assert retried.status_code == 200, retried.text
        replay = await http.post(url, json=body, headers=headers)
        assert replay.headers["Idempotent-Replayed"] == "true"
        assert replay.json()["metadata"]["executionId"] == retried.json()["metadata"]["executionId"]


@pytest.fixture
def cluster() -> Iterator[PrivateCluster]:
    with PrivateCluster() as private:
        upgrade(private.url)
        yield private


@pytest.mark.parametrize("counters", ["database", "redis"])
async def test_a_database_outage_under_load_refuses_new_runs_and_records_every_run_that_happened(
    cluster: PrivateCluster, tmp_path: Path, openai_server: FakeOpenAI, http: httpx2.AsyncClient, counters: str
) -> None:
    openai_server.delay = 0.02
    extra = {"REDIS_URL": REDIS_URL} if counters == "redis" else {}
    env = lifecycle_env(
        cluster.url,
        tmp_path / "data",
        openai_server,
        RATE_LIMIT_ENABLED="true",
        RATE_LIMIT_MAX_REQUESTS="1000000",
        **extra,
    )
    responses: list[httpx2.Response | Exception] = []
    with LiveServer(env) as server:
        ask = await deploy_to(http, server.base_url, ask_flow(), "Ask")
        loading = True

        async def caller(index: int) -> None:
            while loading:
                responses.append(await execute(http, server, ask, {"question": f"caller {index}"}))

        callers = [asyncio.create_task(caller(index)) for index in range(8)]
        await asyncio.sleep(1.5)
        cluster.stop()
        await asyncio.sleep(3.0)
        cluster.start()
        await asyncio.sleep(2.0)
        loading = False
        await asyncio.gather(*callers)
        rows = await settled_history(http, server, ask, seconds=30)
        count = await execution_count(http, server, ask)

    assert all(isinstance(response, httpx2.Response) for response in responses), "the server kept answering"
    answered = [response for response in responses if isinstance(response, httpx2.Response)]
    statuses = Counter((response.status_code, response.json().get("code")) for response in answered)
    assert set(statuses) <= {(200, None), (503, "database_unavailable")}, statuses
    assert statuses[(503, "database_unavailable")] > 0, "the outage was noticed"
    for response in answered:
        if response.status_code == 503:
            assert int(response.headers["Retry-After"]) > 0
            assert "executionId" not in response.json(), "a refused request ran nothing"
    upstream_calls = len(openai_server.requests)
    assert upstream_calls == statuses[(200, None)], "every run that called its model was answered with its result"
    assert sorted(row["id"] for row in rows) == sorted(succeeded(answered)), "and has its row"
    assert {row["status"] for row in rows} == {"success"}
    assert count == len(rows)


async def test_a_run_whose_caller_hangs_up_is_cancelled_and_recorded(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI, http: httpx2.AsyncClient
) -> None:
    openai_server.delay = 60
    env = lifecycle_env(database_url, tmp_path / "data", openai_server)
    with LiveServer(env) as server:
        ask = await deploy_to(http, server.base_url, ask_flow(), "Ask")
        async with httpx2.AsyncClient(timeout=httpx2.Timeout(60, read=1.0)) as impatient:
            with pytest.raises(httpx2.ReadTimeout):
                await impatient.post(
                    f"{server.base_url}/api/workflows/ask/execute",
                    json={"question": "q"},
                    headers=bearer(ask["apiKey"]),
                )
        rows = await settled_history(http, server, ask, seconds=10)
        assert await execution_count(http, server, ask) == 1
    assert [(row["status"], row["errorCode"]) for row in rows] == [("cancelled", "client_closed_request")]
    assert len(openai_server.requests) == 1
    assert rows[0]["durationMs"] < 10_000, "cancelled when the caller left, not when the model answered"
