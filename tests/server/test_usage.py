"""Token usage that LLM nodes report, stored per execution and per node, over real HTTP with a loopback
model (which reports 11 prompt and 7 completion tokens per completion)."""

from __future__ import annotations

import json

import httpx

from tests.fakes.openai_server import FakeOpenAI
from tests.server.runs_support import STREAM, deployed, read_stream
from tests.support import HELLO_WORLD, bearer

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
