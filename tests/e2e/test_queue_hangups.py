"""A caller hanging up on a queued sync run cancels it, as in-process: `clara-runner serve` in-process and
on the queue backend (with a `clara-runner worker`) on one PostgreSQL database, a loopback model that
takes a minute to answer, and callers that close their connection before the answer.

A run the worker holds is stopped by the worker (the web replica marks it, `cancellation.py`) and ends
as the in-process run does: `cancelled`, `client_closed_request`, long before the model would have
answered. A run still waiting for a worker (its deployment at `maxConcurrency` 1, the slot held by
another run) is recorded `cancelled` at once, and never reaches the model.

PostgreSQL only, by design: the queue backend is procrastinate on PostgreSQL."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any

import httpx2
import pytest

from tests.e2e.lifecycle import FINAL, lifecycle_env
from tests.e2e.queue_cluster import LiveWorker, queue_env
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer, deploy_to, history_of, on_postgres

pytestmark = pytest.mark.skipif(not on_postgres(), reason="the queue backend runs on PostgreSQL only")

MODEL_SECONDS = 60
"""How long the model takes to answer: a run that ends well before was cancelled, not answered."""
BOUND_SECONDS = 20
"""The longest any awaited condition may take (each is met within a second or two on an idle machine)."""


@dataclass
class Cluster:
    inprocess: LiveServer
    queued: LiveServer
    model: FakeOpenAI


@pytest.fixture(scope="module")
def cluster(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    with FakeOpenAI() as model:
        model.delay = MODEL_SECONDS
        env = lifecycle_env(module_database_url, tmp_path_factory.mktemp("hangups") / "data", model)
        with (
            LiveServer(env) as inprocess,
            LiveServer(queue_env(env)) as queued,
            LiveWorker(queue_env(env), concurrency=4),
        ):
            yield Cluster(inprocess, queued, model)


@pytest.fixture
async def http() -> AsyncIterator[httpx2.AsyncClient]:
    async with httpx2.AsyncClient(timeout=60) as client:
        yield client


async def until(condition: Callable[[], Awaitable[Any]], what: str) -> Any:
    """`condition`'s first truthy value, polled for at most `BOUND_SECONDS`."""
    deadline = time.monotonic() + BOUND_SECONDS
    while not (value := await condition()):
        assert time.monotonic() < deadline, f"not within {BOUND_SECONDS} s: {what}"
        await asyncio.sleep(0.05)
    return value


async def called_after(model: FakeOpenAI, calls: int) -> bool:
    """Whether the model got a call past the first `calls`."""
    return len(model.requests) > calls


class Caller:
    """A sync execute on its own connection, closed on `hang_up`."""

    def __init__(self, server: LiveServer, deployment: dict[str, Any]) -> None:
        self._client = httpx2.AsyncClient(timeout=MODEL_SECONDS * 2)
        self._request = asyncio.ensure_future(
            self._client.post(
                f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
                json={"question": "anyone there?"},
                headers=bearer(deployment["apiKey"]),
            )
        )

    async def hang_up(self) -> None:
        assert not self._request.done(), "the request was answered before its caller hung up"
        self._request.cancel()
        await self._client.aclose()


async def final_row(http: httpx2.AsyncClient, server: LiveServer, deployment: dict[str, Any]) -> dict[str, Any]:
    async def ended() -> dict[str, Any] | None:
        rows = await history_of(http, server.base_url, deployment)
        return rows[0] if rows and rows[0]["status"] in FINAL else None

    row: dict[str, Any] = await until(ended, "the run has a final row")
    return row


async def abandoned(http: httpx2.AsyncClient, server: LiveServer, model: FakeOpenAI, name: str) -> dict[str, Any]:
    """The final row of a sync run whose caller hung up while it waited for the model."""
    deployment = await deploy_to(http, server.base_url, ask_flow(model.base_url), name)
    calls = len(model.requests)
    caller = Caller(server, deployment)
    await until(lambda: called_after(model, calls), "the run called the model")
    await caller.hang_up()
    return await final_row(http, server, deployment)


async def test_a_caller_hanging_up_on_a_running_sync_run_cancels_it_as_in_process(
    cluster: Cluster, http: httpx2.AsyncClient
) -> None:
    expected = await abandoned(http, cluster.inprocess, cluster.model, "Hang Up In Process")
    got = await abandoned(http, cluster.queued, cluster.model, "Hang Up Queued")

    def ending(row: dict[str, Any]) -> tuple[str, str, str]:
        return row["status"], row["errorCode"], row["error"]

    assert ending(expected)[:2] == ("cancelled", "client_closed_request")
    assert ending(got) == ending(expected)
    assert got["durationMs"] < MODEL_SECONDS * 1000 / 2, "the worker stopped the run; the model never answered"


async def test_a_caller_hanging_up_while_its_run_waits_for_a_worker_cancels_it_at_once(
    cluster: Cluster, http: httpx2.AsyncClient
) -> None:
    server, model = cluster.queued, cluster.model
    deployment = await deploy_to(http, server.base_url, ask_flow(model.base_url), "Single Slot", maxConcurrency=1)
    calls = len(model.requests)
    holding = await http.post(
        f"{server.base_url}/api/workflows/{deployment['slug']}/execute?mode=async",
        json={"question": "holding the slot"},
        headers=bearer(deployment["apiKey"]),
    )
    assert holding.status_code == 202, holding.text
    await until(lambda: called_after(model, calls), "the first run called the model")

    caller = Caller(server, deployment)

    async def waiting() -> bool:
        rows = await history_of(http, server.base_url, deployment)
        return any(row["status"] == "queued" for row in rows)

    await until(waiting, "the second run waits for a worker")
    await caller.hang_up()

    async def settled() -> dict[str, dict[str, Any]] | None:
        rows = {row["id"]: row for row in await history_of(http, server.base_url, deployment)}
        return rows if any(row["status"] in FINAL for row in rows.values()) else None

    rows = await until(settled, "the abandoned run is recorded")
    first = rows.pop(holding.json()["executionId"])
    [second] = rows.values()
    assert (second["status"], second["errorCode"]) == ("cancelled", "client_closed_request")
    assert first["status"] == "running", "cancelled while it waited, not once the slot freed up"
    assert len(model.requests) == calls + 1, "the abandoned run never reached the model"
    cancel = await http.post(holding.json()["cancelUrl"], headers=bearer(deployment["apiKey"]))
    assert cancel.status_code in (200, 202), cancel.text
