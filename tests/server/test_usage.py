"""Token usage that LLM nodes report, stored per execution and per node, over real HTTP with a loopback
model (which reports 11 prompt and 7 completion tokens per completion)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from clara_runner.server.app import create_app
from tests.fakes.openai_server import FakeOpenAI
from tests.server.runs_support import STREAM, deployed, read_stream
from tests.serving import serve_in_process
from tests.support import HELLO_WORLD, ask_flow, bearer, make_settings

ONE_CALL = {"promptTokens": 11, "completionTokens": 7, "totalTokens": 18}

TWO_CALLS_THEN_PARSE = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Question"}},
        {"id": "first", "type": "llm", "data": {"prompt": "{{question}}"}},
        {"id": "second", "type": "llm", "data": {}},
        {"id": "parse", "type": "json-parse", "data": {"failOnError": True}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Answer"}},
    ],
    "connections": [
        {"source": "in", "target": "first", "targetHandle": "question"},
        {"source": "first", "target": "second", "sourceHandle": "response", "targetHandle": "user"},
        {"source": "second", "target": "parse", "sourceHandle": "response"},
        {"source": "parse", "target": "out"},
    ],
}
"""Two model calls whose reply (not JSON) the parse then refuses: the run fails after spending tokens."""


async def test_a_run_records_the_tokens_its_nodes_spent_even_when_it_fails_later(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    deployment = await deployed(http, base_url, "Two Calls", TWO_CALLS_THEN_PARSE)
    key = bearer(deployment["apiKey"])
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute"

    failed = await http.post(execute, json={"question": "hi"}, headers=key)

    assert failed.status_code == 422, failed.text
    assert len(openai_server.completions()) == 2
    execution_id = failed.json()["executionId"]
    execution = (await http.get(f"{base_url}/api/executions/{execution_id}", headers=key)).json()["execution"]
    assert execution["status"] == "error"
    assert execution["usage"] == {"promptTokens": 22, "completionTokens": 14, "totalTokens": 36}
    by_node = {entry["nodeId"]: entry.get("usage") for entry in execution["trace"]}
    assert by_node == {"in": None, "first": ONE_CALL, "second": ONE_CALL, "parse": None}
    history = (await http.get(f"{base_url}/api/workflows/{deployment['slug']}/executions", headers=key)).json()
    assert [entry["usage"] for entry in history["executions"]] == [execution["usage"]]


async def test_node_events_carry_the_usage_and_runs_without_llm_nodes_have_none(
    http: httpx.AsyncClient, base_url: str
) -> None:
    ask = await deployed(http, base_url, "Two Calls", TWO_CALLS_THEN_PARSE)
    headers = {**bearer(ask["apiKey"]), **STREAM}
    execute = f"{base_url}/api/workflows/{ask['slug']}/execute"
    _, events = await read_stream(http, "POST", execute, json={"question": "hi"}, headers=headers)
    finished = [json.loads(event.data) for event in events if event.event == "node.finished"]
    assert [(node["nodeId"], node.get("usage")) for node in finished] == [
        ("in", None),
        ("first", ONE_CALL),
        ("second", ONE_CALL),
    ]

    hello = await deployed(http, base_url, "Hello World", HELLO_WORLD)
    answered = await http.post(
        f"{base_url}/api/workflows/{hello['slug']}/execute", json={"name": "Ada"}, headers=bearer(hello["apiKey"])
    )
    execution_id = answered.json()["metadata"]["executionId"]
    execution = (await http.get(f"{base_url}/api/executions/{execution_id}", headers=bearer(hello["apiKey"]))).json()[
        "execution"
    ]
    assert execution["usage"] is None
    assert all("usage" not in entry for entry in execution["trace"])


@pytest.fixture
async def priced_url(database_url: str, tmp_path: Path, openai_server: FakeOpenAI) -> AsyncIterator[str]:
    """A server with a price table (per million tokens: 1000 prompt, 2000 completion, so one loopback call of
    11 + 7 tokens costs 0.025) that reads a key's use afresh for every budget check."""
    settings = make_settings(
        database_url,
        tmp_path / "data",
        OPENAI_API_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY="sk-server-key-for-tests",
        USAGE_PRICES=json.dumps({"*": {"prompt": 1000, "completion": 2000}}),
        USAGE_CACHE_SECONDS=0,
    )
    async with serve_in_process(create_app(settings)) as url:
        yield url


async def test_a_key_past_its_budget_is_refused_until_the_admin_raises_it_and_costs_are_reported(
    http: httpx.AsyncClient, priced_url: str
) -> None:
    budget = {"tokens": 40, "period": "day"}
    deployment = await deployed(http, priced_url, "Ask", ask_flow(), usageBudget=budget)
    assert deployment["usageBudget"] == budget
    execute = f"{priced_url}/api/workflows/{deployment['slug']}/execute"
    key = bearer(deployment["apiKey"])

    answers = [await http.post(execute, json={"question": f"q{index}"}, headers=key) for index in range(4)]

    assert [answer.status_code for answer in answers] == [200, 200, 200, 429], "18 tokens a run: 54 >= 40 after three"
    refused = answers[-1]
    assert refused.json()["code"] == "usage_budget_exhausted"
    assert refused.json()["used"] == 54
    assert 0 < int(refused.headers["retry-after"]) <= 86400
    execution_id = answers[0].json()["metadata"]["executionId"]
    execution = (await http.get(f"{priced_url}/api/executions/{execution_id}", headers=key)).json()["execution"]
    assert execution["cost"] == pytest.approx(0.025)

    report = (await http.get(f"{priced_url}/api/workflows/{deployment['slug']}/usage", headers=key)).json()
    assert report["period"] == "day"
    (entry,) = report["keys"]
    assert (entry["executions"], entry["promptTokens"], entry["completionTokens"]) == (3, 33, 21)
    assert entry["cost"] == pytest.approx(0.075)
    assert entry["budgetRemaining"] == 0
    assert report["total"]["totalTokens"] == 54

    regenerated = await http.post(f"{priced_url}/api/workflows/{deployment['id']}/regenerate-key")
    new_key = bearer(regenerated.json()["workflow"]["apiKey"])
    again = await http.post(execute, json={"question": "q"}, headers=new_key)
    assert again.json()["code"] == "usage_budget_exhausted", "a regenerated key shares its quota's budget"

    holder_lifts = await http.put(
        f"{priced_url}/api/workflows/{deployment['slug']}",
        json={"workflow": ask_flow(), "usageBudget": {"tokens": 1000, "period": "day"}},
        headers=new_key,
    )
    assert (holder_lifts.status_code, holder_lifts.json()["code"]) == (403, "access_denied")
    admin_lifts = await http.put(
        f"{priced_url}/api/workflows/{deployment['slug']}",
        json={"workflow": ask_flow(), "usageBudget": {"tokens": 1000, "period": "day"}},
    )
    assert admin_lifts.status_code == 200, admin_lifts.text
    assert (await http.post(execute, json={"question": "q"}, headers=new_key)).status_code == 200


@pytest.mark.parametrize(
    ("budget", "problem"),
    [
        ({"tokens": 0, "period": "day"}, "usageBudget.tokens must be a whole number from 1"),
        ({"tokens": 10, "period": "week"}, "usageBudget.period must be day or month"),
        ({"tokens": 10}, "usageBudget must be an object"),
    ],
)
async def test_a_malformed_budget_is_refused_at_deploy(
    http: httpx.AsyncClient, base_url: str, budget: dict[str, Any], problem: str
) -> None:
    response = await http.post(
        f"{base_url}/api/deploy", json={"name": "Ask", "workflow": ask_flow(), "usageBudget": budget}
    )
    assert (response.status_code, response.json()["code"]) == (400, "validation_failed")
    assert any(found.startswith(problem) for found in response.json()["validationErrors"])
