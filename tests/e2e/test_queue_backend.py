"""The queue backend answers exactly as in-process: two `clara-runner serve` processes on one PostgreSQL
database, one running its requests itself and one queueing them for a `clara-runner worker`, get the same
requests on the same deployments; their bodies and streamed events match once ids and times are set aside.
Every shared Studio export (tests/fixtures/workflows, LLM nodes pointed at the loopback model) is run on
both with the same inputs: eight answer 200; research-assistant-flow fails at its search API and
audio-transcription at its transcription service (neither is configured here), identically on both.

PostgreSQL only, by design: the queue backend is procrastinate on PostgreSQL."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from httpx_sse import aconnect_sse
from sqlalchemy import Engine, create_engine, text

from clara_runner.store.database import sync_database_url
from tests.e2e.lifecycle import lifecycle_env
from tests.e2e.queue_cluster import LiveWorker, queue_env
from tests.e2e.test_llm_workflows import pointed_at
from tests.fakes.openai_server import FakeOpenAI
from tests.support import (
    HELLO_WORLD,
    WORKFLOWS,
    LiveServer,
    ask_flow,
    bearer,
    on_postgres,
    shared_workflow,
)

pytestmark = pytest.mark.skipif(not on_postgres(), reason="the queue backend runs on PostgreSQL only")

_VARYING = re.compile(
    r'"(executionId|timestamp|startedAt|duration|durationMs|id)":("[^"]*"|[0-9.]+)'
    r"|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"
)


def normalised(text: str) -> str:
    """The text with run ids, times and durations blanked (they differ between any two runs)."""
    return _VARYING.sub(lambda match: f'"{match.group(1)}":_' if match.group(1) else "_", text)


@dataclass
class Pair:
    inprocess: LiveServer
    queued: LiveServer
    model: FakeOpenAI
    engine: Engine
    """The servers' database, to see what a request left in the queue's tables."""


@pytest.fixture(scope="module")
def model() -> Iterator[FakeOpenAI]:
    with FakeOpenAI() as server:
        server.token_delay = 0.02
        yield server


@pytest.fixture(scope="module")
def pair(module_database_url: str, tmp_path_factory: pytest.TempPathFactory, model: FakeOpenAI) -> Iterator[Pair]:
    data = tmp_path_factory.mktemp("queue") / "data"
    env = lifecycle_env(module_database_url, data, model)
    with (
        LiveServer(env) as inprocess,
        LiveServer(queue_env(env)) as queued,
        LiveWorker(queue_env(env), concurrency=4),
    ):
        engine = create_engine(sync_database_url(module_database_url))
        try:
            yield Pair(inprocess, queued, model, engine)
        finally:
            engine.dispose()


@pytest.fixture
async def http() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(timeout=60) as client:
        yield client


async def deployed(http: httpx.AsyncClient, server: LiveServer, name: str, workflow: Any) -> dict[str, Any]:
    response = await http.post(f"{server.base_url}/api/deploy", json={"name": name, "workflow": workflow})
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


async def answer(
    http: httpx.AsyncClient, server: LiveServer, deployment: dict[str, Any], body: Any, **options: Any
) -> tuple[int, str]:
    response = await http.post(
        f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
        json=body,
        headers={**bearer(deployment["apiKey"]), **options.pop("headers", {})},
        **options,
    )
    return response.status_code, normalised(response.text)


async def events(http: httpx.AsyncClient, server: LiveServer, deployment: dict[str, Any], body: Any) -> list[str]:
    """The streamed events as `name data`, the deltas of consecutive `llm.token` events of a node joined:
    how many tokens one event carries depends on how fast they arrived (`event_log.py`), on either backend."""
    url = f"{server.base_url}/api/workflows/{deployment['slug']}/execute?mode=stream"
    lines: list[str] = []
    tokens: dict[str, Any] | None = None
    ids: list[int] = []
    async with aconnect_sse(http, "POST", url, json=body, headers=bearer(deployment["apiKey"])) as source:
        async for event in source.aiter_sse():
            ids.append(int(event.id))
            if event.event == "llm.token":
                delta = json.loads(event.data)
                if tokens is not None and tokens["nodeId"] == delta["nodeId"]:
                    tokens["delta"] += delta["delta"]
                    continue
                tokens = delta
                lines.append("")
                continue
            if tokens is not None:
                lines[-1] = f"llm.token {json.dumps(tokens)}"
                tokens = None
            lines.append(f"{event.event} {normalised(event.data)}")
    assert ids == list(range(1, len(ids) + 1))
    return lines


@pytest.mark.parametrize(
    ("body", "headers"),
    [
        ({"name": "Ada"}, {}),
        ({"name": 5, "extra": 1}, {}),
        ({"name": "Ada"}, {"X-Workflow-Version": "9"}),
        ({"name": "Ada"}, {"Prefer": "wait=10"}),
    ],
    ids=["success", "invalid-input", "missing-version", "wait-mode"],
)
async def test_sync_and_wait_answers_are_the_same_on_both_backends(
    pair: Pair, http: httpx.AsyncClient, body: dict[str, Any], headers: dict[str, str]
) -> None:
    deployment = await deployed(http, pair.inprocess, "Queue Hello", HELLO_WORLD)
    expected = await answer(http, pair.inprocess, deployment, body, headers=headers)
    got = await answer(http, pair.queued, deployment, body, headers=headers)
    assert got == expected


async def test_streamed_events_are_the_same_on_both_backends(pair: Pair, http: httpx.AsyncClient) -> None:
    deployment = await deployed(http, pair.inprocess, "Queue Ask", ask_flow(pair.model.base_url))
    body = {"question": "how do queues work"}
    expected = await events(http, pair.inprocess, deployment, body)
    got = await events(http, pair.queued, deployment, body)
    assert any(line.startswith("llm.token") for line in expected)
    assert got == expected


async def test_a_quick_runs_sealed_log_streams_the_same_on_both_backends(pair: Pair, http: httpx.AsyncClient) -> None:
    """A run that ends before it is acknowledged carries its log in its row (`detached.Sealing`), on the worker too."""
    deployment = await deployed(http, pair.inprocess, "Queue Quick", HELLO_WORLD)
    expected = await events(http, pair.inprocess, deployment, {"name": "Ada"})
    got = await events(http, pair.queued, deployment, {"name": "Ada"})
    assert [line.split(" ", 1)[0] for line in expected] == [
        "run.started", "node.started", "node.finished", "node.started", "node.finished", "run.finished"
    ]  # fmt: skip
    assert got == expected


_MODES: dict[str, dict[str, Any]] = {
    "sync": {},
    "async": {"params": {"mode": "async"}},
    "wait": {"headers": {"Prefer": "wait=10"}},
    "stream": {"params": {"mode": "stream"}},
}
_REFUSALS: dict[str, tuple[dict[str, Any], int]] = {
    "invalid-input": ({"json": {"name": 5, "extra": 1}}, 400),
    "missing-version": ({"json": {"name": "Ada"}, "headers": {"X-Workflow-Version": "9"}}, 404),
    "malformed-body": ({"content": b'{"name": ', "headers": {"content-type": "application/json"}}, 400),
}


async def refused(
    http: httpx.AsyncClient, server: LiveServer, deployment: dict[str, Any], request: dict[str, Any]
) -> tuple[int, str, dict[str, Any]]:
    """The refusal's status, its body with ids and times blanked, and its envelope."""
    response = await http.post(
        f"{server.base_url}/api/workflows/{deployment['slug']}/execute",
        params=request.get("params"),
        headers={**bearer(deployment["apiKey"]), **request.get("headers", {})},
        **{name: request[name] for name in ("json", "content") if name in request},
    )
    envelope: dict[str, Any] = response.json()
    return response.status_code, normalised(response.text), envelope


def queued_parts(engine: Engine, execution_id: str) -> tuple[int, int]:
    """The run's request in `queued_runs` and its procrastinate jobs: how many of each exist."""
    with engine.connect() as conn:
        requests = conn.execute(
            text("SELECT count(*) FROM queued_runs WHERE execution_id = :id"), {"id": execution_id}
        ).scalar_one()
        jobs = conn.execute(
            text("SELECT count(*) FROM procrastinate_jobs WHERE args->>'execution_id' = :id"), {"id": execution_id}
        ).scalar_one()
    return int(requests), int(jobs)


@pytest.mark.parametrize("refusal", sorted(_REFUSALS))
@pytest.mark.parametrize("mode", sorted(_MODES))
async def test_a_refused_request_is_the_same_error_and_row_on_both_backends_in_every_mode(
    pair: Pair, http: httpx.AsyncClient, mode: str, refusal: str
) -> None:
    """Refused before it is queued (never a 202, no job), recorded as in-process: one `error` row, which the
    envelope's `executionId` names."""
    deployment = await deployed(http, pair.inprocess, f"Queue Refused {mode} {refusal}", HELLO_WORLD)
    request, status = _REFUSALS[refusal]
    options = _MODES[mode]
    request = {**request, **options, "headers": {**request.get("headers", {}), **options.get("headers", {})}}
    expected = await refused(http, pair.inprocess, deployment, request)
    got = await refused(http, pair.queued, deployment, request)

    assert expected[0] == status
    assert got[:2] == expected[:2]
    response = await http.get(
        f"{pair.queued.base_url}/api/workflows/{deployment['slug']}/executions", headers=bearer(deployment["apiKey"])
    )
    history = response.json()["executions"]
    assert sorted(row["id"] for row in history) == sorted([expected[2]["executionId"], got[2]["executionId"]])
    assert {(row["status"], row["errorCode"], row["version"]) for row in history} == {
        ("error", expected[2]["code"], 9 if refusal == "missing-version" else 1)
    }
    assert queued_parts(pair.engine, got[2]["executionId"]) == (0, 0)


async def test_an_async_run_is_queued_then_run_by_a_worker(pair: Pair, http: httpx.AsyncClient) -> None:
    deployment = await deployed(http, pair.queued, "Queue Async", HELLO_WORLD)
    response = await http.post(
        f"{pair.queued.base_url}/api/workflows/{deployment['slug']}/execute?mode=async",
        json={"name": "Ada"},
        headers=bearer(deployment["apiKey"]),
    )
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["status"] == "queued"
    async with aconnect_sse(http, "GET", accepted["eventsUrl"], headers=bearer(deployment["apiKey"])) as source:
        names = [event.event async for event in source.aiter_sse()]
    assert names[0] == "run.started"
    assert names[-1] == "run.finished"
    record = (await http.get(accepted["statusUrl"], headers=bearer(deployment["apiKey"]))).json()["execution"]
    assert record["status"] == "success"
    assert record["outputs"] == {"greeting": "Ada"}


_SAMPLE_VALUES: dict[str, Any] = {
    "string": "Tell me about queues",
    "number": 2,
    "integer": 2,
    "boolean": True,
    "object": {},
    "array": [],
}


def sample_inputs(schema: dict[str, Any]) -> dict[str, Any]:
    """A value of each input's type (the same on both backends, whatever the workflow makes of it)."""
    inputs: dict[str, Any] = {}
    for name, field in schema.get("properties", {}).items():
        kind = field.get("type", "string")
        if "contentEncoding" in field or "base64" in field.get("description", "").lower():
            inputs[name] = "data:text/plain;base64,aGVsbG8gcXVldWVz"
        else:
            inputs[name] = _SAMPLE_VALUES.get(kind[0] if isinstance(kind, list) else kind, "text")
    return inputs


@pytest.mark.parametrize("export", sorted(path.name for path in WORKFLOWS.glob("*.json")))
async def test_every_shared_export_answers_the_same_on_both_backends(
    pair: Pair, http: httpx.AsyncClient, export: str
) -> None:
    workflow = pointed_at(shared_workflow(export), pair.model.base_url)
    response = await http.post(
        f"{pair.inprocess.base_url}/api/deploy", json={"name": f"Export {export[:40]}", "workflow": workflow}
    )
    assert response.status_code == 201, response.text
    deployment = response.json()["deployment"]
    body = sample_inputs(deployment["schema"]["input"])
    expected = await answer(http, pair.inprocess, deployment, body)
    got = await answer(http, pair.queued, deployment, body)
    assert got == expected
