"""Limits and fairness of the queue backend across workers: one `clara-runner serve` and two
`clara-runner worker` processes (two runs at once each) on PostgreSQL, a loopback model answering slowly.

* a deployment's `maxConcurrency` holds across the workers (its runs owned by workers never exceed it);
* a tenant with a backlog delays another tenant's new run by at most one run slot: once a slot frees,
  it goes to the newcomer (counted in model calls of the backlog made meanwhile, not in time); so does a
  key's backlog for another key's new run of the same deployment;
* a deployment's queue is bounded: past `QUEUE_MAX_DEPTH` waiting runs, execute answers 503 `queue_full`;
* a run waiting for a worker is cancelled at once, and a caller waiting on it told `run_cancelled`.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from sqlalchemy import create_engine, text

from clara_runner.store.database import sync_database_url
from tests.e2e.lifecycle import FINAL, lifecycle_env
from tests.e2e.queue_cluster import LiveWorker, queue_env
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer, on_postgres

pytestmark = pytest.mark.skipif(not on_postgres(), reason="the queue backend runs on PostgreSQL only")

DEPTH = 30
SLOTS = 4
"""Two workers, two runs at once each."""


MODEL_SECONDS = 0.3
"""How long the module's model takes to answer, unless `slowed`."""


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.delay = MODEL_SECONDS
        yield server


@contextmanager
def slowed(model: FakeOpenAI) -> Iterator[None]:
    """The model takes 3 s to answer within the block, so that runs pile up behind a deployment's limit."""
    model.delay = 3.0
    try:
        yield
    finally:
        model.delay = MODEL_SECONDS


@pytest.fixture(scope="module")
def cluster(
    module_database_url: str, tmp_path_factory: pytest.TempPathFactory, model: FakeOpenAI
) -> Iterator[tuple[LiveServer, str]]:
    env = queue_env(
        lifecycle_env(module_database_url, tmp_path_factory.mktemp("fair") / "data", model),
        QUEUE_MAX_DEPTH=str(DEPTH),
    )
    with LiveServer(env) as web, LiveWorker(env, SLOTS // 2), LiveWorker(env, SLOTS // 2):
        yield web, module_database_url


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=120) as client:
        yield client


async def deployed(http: httpx.AsyncClient, web: LiveServer, name: str, model: FakeOpenAI, **options: Any) -> Any:
    body = {"name": name, "workflow": ask_flow(model.base_url), **options}
    response = await http.post(f"{web.base_url}/api/deploy", json=body)
    assert response.status_code == 201, response.text
    return response.json()["deployment"]


async def submit(
    http: httpx.AsyncClient, web: LiveServer, deployment: Any, question: str, api_key: str | None = None
) -> httpx.Response:
    """An async run of the deployment, with its deploy-time key unless `api_key` is given."""
    return await http.post(
        f"{web.base_url}/api/workflows/{deployment['slug']}/execute?mode=async",
        json={"question": question},
        headers=bearer(api_key or deployment["apiKey"]),
    )


def statuses(url: str, deployment: Any) -> tuple[list[str], int]:
    """The deployment's run statuses, and how many of its runs workers own now."""
    engine = create_engine(sync_database_url(url))
    try:
        with engine.connect() as conn:
            found = [
                row[0]
                for row in conn.execute(
                    text("SELECT status FROM executions WHERE deployment_id = :id"), {"id": deployment["id"]}
                )
            ]
            owned = conn.execute(
                text(
                    "SELECT count(*) FROM executions WHERE deployment_id = :id AND owner_id IS NOT NULL"
                    " AND status IN ('queued', 'running')"
                ),
                {"id": deployment["id"]},
            ).scalar_one()
    finally:
        engine.dispose()
    return found, int(owned)


async def until_finished(url: str, deployment: Any, count: int) -> list[int]:
    """Poll until `count` runs of the deployment are final; return how many workers owned at each poll."""
    owned_seen: list[int] = []
    deadline = time.monotonic() + 120
    while True:
        found, owned = statuses(url, deployment)
        owned_seen.append(owned)
        if len(found) == count and all(status in FINAL for status in found):
            return owned_seen
        assert time.monotonic() < deadline, f"runs unfinished: {found}"
        await asyncio.sleep(0.05)


async def test_max_concurrency_holds_across_workers(
    cluster: tuple[LiveServer, str], model: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    web, url = cluster
    limited = await deployed(http, web, "Limited", model, maxConcurrency=1)
    responses = await asyncio.gather(*(submit(http, web, limited, f"limited {index}") for index in range(6)))
    assert [response.status_code for response in responses] == [202] * 6
    owned_seen = await until_finished(url, limited, 6)
    assert max(owned_seen) == 1
    assert statuses(url, limited)[0] == ["success"] * 6


async def backlog_served_before_newcomer(
    http: httpx.AsyncClient, web: LiveServer, url: str, model: FakeOpenAI, busy: Any, newcomer: Any, newcomer_key: str
) -> int:
    """Queue a backlog of `busy`'s runs with its deploy-time key until every worker slot holds one, then one
    run of `newcomer` with `newcomer_key`: how many runs of the backlog called the model before it did."""
    for index in range(DEPTH - 2):
        assert (await submit(http, web, busy, f"{busy['slug']} {index}")).status_code == 202
    while statuses(url, busy)[1] < SLOTS:  # noqa: ASYNC110 (the database is polled: no event to wait on)
        await asyncio.sleep(0.02)
    calls_before = len(model.completions())
    question = f"newcomer after {busy['slug']}"
    assert (await submit(http, web, newcomer, question, newcomer_key)).status_code == 202
    same_deployment = newcomer["id"] == busy["id"]
    await until_finished(url, busy, DEPTH - 2 + int(same_deployment))
    if not same_deployment:
        await until_finished(url, newcomer, 1)
    calls = [completion["messages"][-1]["content"] for completion in model.completions()]
    return calls[calls_before:].index(question)


async def test_a_backlog_delays_another_tenants_run_by_one_slot_at_most(
    cluster: tuple[LiveServer, str], model: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    web, url = cluster
    busy = await deployed(http, web, "Busy Tenant", model)
    other = await deployed(http, web, "Other Tenant", model)
    served_first = await backlog_served_before_newcomer(http, web, url, model, busy, other, other["apiKey"])
    assert served_first <= SLOTS, f"{served_first} runs of the backlog started before the newcomer"


async def test_a_keys_backlog_delays_another_keys_run_of_the_deployment_by_one_slot_at_most(
    cluster: tuple[LiveServer, str], model: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    web, url = cluster
    shared = await deployed(http, web, "Shared Tenant", model)
    created = await http.post(f"{web.base_url}/api/workflows/{shared['slug']}/keys", json={"name": "second app"})
    assert created.status_code == 201, created.text
    served_first = await backlog_served_before_newcomer(
        http, web, url, model, shared, shared, created.json()["key"]["apiKey"]
    )
    assert served_first <= SLOTS, f"{served_first} runs of the other key's backlog started before the newcomer"


async def test_a_full_queue_answers_503_queue_full(
    cluster: tuple[LiveServer, str], model: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    web, url = cluster
    slow = await deployed(http, web, "Slow Queue", model, maxConcurrency=1)
    with slowed(model):
        answers = await asyncio.gather(*(submit(http, web, slow, f"slow {index}") for index in range(DEPTH + 12)))
    refused = [response for response in answers if response.status_code == 503]
    assert refused, "no run was refused"
    body = refused[0].json()
    assert (body["code"], refused[0].headers["Retry-After"]) == ("queue_full", "1")
    assert f"at most {DEPTH}" in body["message"]
    accepted = sum(response.status_code == 202 for response in answers)
    assert accepted + len(refused) == DEPTH + 12
    await until_finished(url, slow, accepted)


def waiting_runs(url: str, deployment: Any) -> list[tuple[str, str]]:
    """The deployment's runs no worker holds yet, as (id, mode)."""
    engine = create_engine(sync_database_url(url))
    try:
        with engine.connect() as conn:
            found = conn.execute(
                text(
                    "SELECT e.id, q.mode FROM executions e JOIN queued_runs q ON q.execution_id = e.id"
                    " WHERE e.deployment_id = :id AND e.status = 'queued' AND e.owner_id IS NULL"
                ),
                {"id": deployment["id"]},
            )
            return [(str(row[0]), row[1]) for row in found]
    finally:
        engine.dispose()


async def test_a_run_waiting_for_a_worker_is_cancelled_at_once_and_its_caller_told(
    cluster: tuple[LiveServer, str], model: FakeOpenAI, http: httpx.AsyncClient
) -> None:
    web, url = cluster
    single = await deployed(http, web, "Single Lane", model, maxConcurrency=1)
    with slowed(model):
        for question in ("first", "second"):
            assert (await submit(http, web, single, question)).status_code == 202
        sync_call = asyncio.create_task(
            http.post(
                f"{web.base_url}/api/workflows/{single['slug']}/execute",
                json={"question": "third"},
                headers=bearer(single["apiKey"]),
            )
        )
        while len(waiting_runs(url, single)) < 2:  # noqa: ASYNC110 (the database is polled: no event to wait on)
            await asyncio.sleep(0.02)
        modes = {mode: execution_id for execution_id, mode in waiting_runs(url, single)}
        cancelled = {
            mode: await http.post(
                f"{web.base_url}/api/executions/{modes[mode]}/cancel", headers=bearer(single["apiKey"])
            )
            for mode in ("async", "sync")
        }
        answer = await sync_call
    for response in cancelled.values():
        assert (response.status_code, response.json()["execution"]["status"]) == (200, "cancelled")
        assert response.json()["execution"]["errorCode"] == "run_cancelled"
    assert (answer.status_code, answer.json()["code"]) == (409, "run_cancelled")
    assert answer.json()["executionId"] == modes["sync"]
    events_url = f"{web.base_url}/api/executions/{modes['async']}/events"
    async with aconnect_sse(http, "GET", events_url, headers=bearer(single["apiKey"])) as source:
        events = [(event.event, json.loads(event.data).get("code")) async for event in source.aiter_sse()]
    assert events == [("run.failed", "run_cancelled")]
    await until_finished(url, single, 3)
    assert len(model.completions()) == len(
        {completion["messages"][-1]["content"] for completion in model.completions()}
    )
