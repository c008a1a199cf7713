"""Every mode's real answers hold to the deployment's published document: each status is documented for
its operation with the content type it came in, each JSON body matches its schema, each event's data
matches the schema `x-events` names for it, and each error code is one the response's description names.

Over real HTTP (uvicorn in the test's loop), with the loopback model streaming its tokens, as in
`test_run_modes.py`, whose helpers these tests share.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping
from typing import Any

import httpx
from httpx_sse import ServerSentEvent

from tests.apps import wait_until
from tests.contract.support import edge
from tests.e2e.test_if_else_e2e import GATE
from tests.fakes.openai_server import FakeOpenAI
from tests.openapi_checks import schema_errors
from tests.server.runs_support import STREAM, read_stream, wait_final
from tests.support import ask_flow, bearer

EXECUTE = "/api/workflows/{slug}/execute"
EXECUTION = "/api/executions/{executionId}"
EVENTS = EXECUTION + "/events"
CANCEL = EXECUTION + "/cancel"
FAILING = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Text"}},
        {"id": "parse", "type": "json-parse", "data": {"failOnError": True}},
        {"id": "out", "type": "output", "data": {}},
    ],
    "connections": [edge("in", "parse"), edge("parse", "out")],
}


class Deployed:
    """A deployment with its key and the document it publishes."""

    def __init__(self, base_url: str, slug: str, key: str, document: dict[str, Any]) -> None:
        self.base_url = base_url
        self.slug = slug
        self.key = key
        self.document = document

    @property
    def execute(self) -> str:
        return self.base_url + EXECUTE.format(slug=self.slug)

    def run(self, execution_id: str, template: str = EXECUTION) -> str:
        return self.base_url + template.format(executionId=execution_id)

    def documented(self, template: str, method: str, response: httpx.Response) -> Mapping[str, Any]:
        """The documented response for `response`'s status, checked to list its content type."""
        path = EXECUTE.format(slug=self.slug) if template == EXECUTE else template
        responses = self.document["paths"][path][method]["responses"]
        assert str(response.status_code) in responses, (template, response.status_code, response.text)
        documented: Mapping[str, Any] = responses[str(response.status_code)]
        media_type = response.headers["content-type"].split(";")[0].strip()
        assert media_type in documented.get("content", {}), (template, response.status_code, media_type)
        for name, header in documented.get("headers", {}).items():
            assert not header.get("required") or name in response.headers, (template, name)
        return documented

    def check_json(self, template: str, method: str, response: httpx.Response, code: str | None = None) -> Any:
        """The body matches its documented schema; an error's `code` is one the description names."""
        documented = self.documented(template, method, response)
        body = response.json()
        assert schema_errors(self.document, documented["content"]["application/json"]["schema"], body) == []
        if code is not None:
            assert body["code"] == code, body
            named = documented["description"] + json.dumps(documented["content"]["application/json"].get("examples"))
            assert code in named, (template, response.status_code, code)
        return body

    def check_events(self, template: str, method: str, response: httpx.Response, events: list[ServerSentEvent]) -> None:
        """The stream's status and type are documented, ids count up by one, each event's data matches its schema."""
        media = self.documented(template, method, response)["content"]["text/event-stream"]
        schemas = media["x-events"]
        first = int(events[0].id)
        assert [event.id for event in events] == [str(number) for number in range(first, first + len(events))]
        for event in events:
            assert event.event in schemas, event.event
            assert schema_errors(self.document, schemas[event.event], json.loads(event.data)) == [], event
            fields = {"id": event.id, "event": event.event, "data": event.data}
            assert schema_errors(self.document, media["schema"], fields) == [], event
        assert events[-1].event in ("run.finished", "run.failed")


async def deployed(http: httpx.AsyncClient, base_url: str, name: str, workflow: Any) -> Deployed:
    response = await http.post(f"{base_url}/api/deploy", json={"name": name, "workflow": workflow})
    assert response.status_code == 201, response.text
    deployment = response.json()["deployment"]
    document = (await http.get(f"{base_url}/api/workflows/{deployment['slug']}/schema")).json()
    return Deployed(base_url, deployment["slug"], deployment["apiKey"], document)


async def test_streamed_runs_match_the_documented_events(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    openai_server.token_delay = 0.02
    ask = await deployed(http, base_url, "Ask", ask_flow())
    gate = await deployed(http, base_url, "Gate", GATE)
    failing = await deployed(http, base_url, "Failing", FAILING)
    seen: set[str] = set()
    cases: list[tuple[Deployed, dict[str, Any], str]] = [
        (ask, {"question": "one two three"}, "run.finished"),
        (gate, {"amount": 250}, "run.finished"),
        (failing, {"text": "not json"}, "run.failed"),
    ]
    for deployment, body, last in cases:
        headers = {**bearer(deployment.key), **STREAM}
        response, events = await read_stream(http, "POST", deployment.execute, json=body, headers=headers)
        deployment.check_events(EXECUTE, "post", response, events)
        assert events[-1].event == last
        seen |= {event.event for event in events}
    assert json.loads(events[-1].data)["code"] == "workflow_failed"
    assert seen == _documented_events(ask.document), "every documented event was seen and checked"

    refused = await http.post(ask.execute, json={"question": 5}, headers={**bearer(ask.key), **STREAM})
    ask.check_json(EXECUTE, "post", refused, "input_validation_failed")
    unknown_mode = await http.post(f"{ask.execute}?mode=later", json={}, headers=bearer(ask.key))
    ask.check_json(EXECUTE, "post", unknown_mode, "invalid_mode")


def _documented_events(document: Mapping[str, Any]) -> set[str]:
    operation = next(item["post"] for path, item in document["paths"].items() if path.endswith("/execute"))
    return set(operation["responses"]["200"]["content"]["text/event-stream"]["x-events"])


async def test_async_and_wait_answers_and_the_run_resources_match_the_document(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    ask = await deployed(http, base_url, "Ask", ask_flow())
    key = bearer(ask.key)

    openai_server.delay = 1
    accepted = await http.post(ask.execute, json={"question": "later"}, headers={**key, "Prefer": "respond-async"})
    body = ask.check_json(EXECUTE, "post", accepted)
    assert accepted.status_code == 202
    assert accepted.headers["preference-applied"] == "respond-async"
    running = await http.get(body["statusUrl"], headers=key)
    assert ask.check_json(EXECUTION, "get", running)["execution"]["status"] == "running"
    await wait_final(http, body["statusUrl"], ask.key)
    finished = await http.get(body["statusUrl"], headers=key)
    assert ask.check_json(EXECUTION, "get", finished)["execution"]["outputs"] == {"answer": "echo: later"}
    response, events = await read_stream(http, "GET", body["eventsUrl"], headers={**key})  # it adds Accept
    ask.check_events(EVENTS, "get", response, events)
    response, tail = await read_stream(http, "GET", body["eventsUrl"], headers={**key, "Last-Event-ID": "2"})
    ask.check_events(EVENTS, "get", response, tail)
    assert tail[0].id == "3"

    openai_server.delay = 0
    in_time = await http.post(ask.execute, json={"question": "now"}, headers={**key, "Prefer": "wait=10"})
    assert ask.check_json(EXECUTE, "post", in_time)["outputs"] == {"answer": "echo: now"}
    openai_server.delay = 2
    handed_off = await http.post(ask.execute, json={"question": "slow"}, headers={**key, "Prefer": "wait=1"})
    assert handed_off.status_code == 202
    slow = ask.check_json(EXECUTE, "post", handed_off)
    assert (await wait_final(http, slow["statusUrl"], ask.key))["status"] == "success"

    openai_server.delay = 3  # long enough to cancel the run, short enough not to hold the server's shutdown
    calls = len(openai_server.requests_to("/v1/chat/completions"))
    doom = await http.post(f"{ask.execute}?mode=async", json={"question": "never"}, headers=key)
    assert doom.status_code == 202, doom.text
    doomed = ask.check_json(EXECUTE, "post", doom)
    await wait_until(lambda: len(openai_server.requests_to("/v1/chat/completions")) > calls)
    cancelled = ask.check_json(CANCEL, "post", await http.post(doomed["cancelUrl"], headers=key))
    assert (cancelled["execution"]["status"], cancelled["execution"]["errorCode"]) == ("cancelled", "run_cancelled")
    assert "run_cancelled" in ask.document["paths"][CANCEL]["post"]["responses"]["200"]["description"]
    ask.check_json(CANCEL, "post", await http.post(doomed["cancelUrl"], headers=key), "run_finished")


async def test_run_resource_errors_match_the_document(http: httpx.AsyncClient, base_url: str) -> None:
    ask = await deployed(http, base_url, "Ask", ask_flow())
    other = await deployed(http, base_url, "Other", ask_flow())
    key = bearer(ask.key)
    sync = await http.post(ask.execute, json={"question": "hi"}, headers=key)
    execution_id = ask.check_json(EXECUTE, "post", sync)["metadata"]["executionId"]
    streamed, _ = await read_stream(http, "POST", ask.execute, json={"question": "hi"}, headers={**key, **STREAM})
    streamed_id = streamed.headers["location"].rsplit("/", 1)[1]

    cases = [
        (EXECUTION, "get", await http.get(ask.run(execution_id), headers=bearer(other.key)), "execution_not_found"),
        (EXECUTION, "get", await http.get(ask.run("nope"), headers=key), "invalid_id"),
        (EXECUTION, "get", await http.get(ask.run(execution_id), headers=bearer("clara_sk_" + "0" * 64)), None),
        (EVENTS, "get", await http.get(ask.run(execution_id, EVENTS), headers=key), "no_event_log"),
        (
            EVENTS,
            "get",
            await http.get(ask.run(streamed_id, EVENTS) + "?lastEventId=x", headers=key),
            "invalid_parameter",
        ),
        (CANCEL, "post", await http.post(ask.run(execution_id, CANCEL), headers=key), "run_finished"),
        (
            CANCEL,
            "post",
            await http.post(ask.run(streamed_id, CANCEL), headers=bearer(other.key)),
            "execution_not_found",
        ),
    ]
    for template, method, response, code in cases:
        assert response.status_code >= 400, response.text
        ask.check_json(template, method, response, code)
    assert [response.status_code for _, _, response, _ in cases] == [404, 400, 401, 404, 400, 409, 404]


async def test_a_run_cancelled_during_a_wait_answers_the_waiting_request_409(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    ask = await deployed(http, base_url, "Ask", ask_flow())
    openai_server.delay = 3
    waiting = asyncio.create_task(
        http.post(ask.execute, json={"question": "q"}, headers={**bearer(ask.key), "Prefer": "wait=20"})
    )
    await wait_until(lambda: bool(openai_server.requests_to("/v1/chat/completions")))
    history = await http.get(f"{base_url}/api/workflows/{ask.slug}/executions?status=running", headers=bearer(ask.key))
    [running] = history.json()["executions"]

    cancelled = await http.post(ask.run(running["id"], CANCEL), headers=bearer(ask.key))

    assert cancelled.status_code == 200, cancelled.text
    answer = await waiting
    ask.check_json(EXECUTE, "post", answer, "run_cancelled")
    assert answer.status_code == 409


async def test_the_first_answer_is_replayed_whatever_mode_the_retry_asks_for(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    ask = await deployed(http, base_url, "Ask", ask_flow())
    openai_server.delay = 2
    handed_off = {**bearer(ask.key), "Prefer": "wait=1", "Idempotency-Key": "wait-1"}
    first = await http.post(ask.execute, json={"question": "slow"}, headers=handed_off)
    assert first.status_code == 202, first.text
    await wait_final(http, first.json()["statusUrl"], ask.key)

    replayed = await http.post(ask.execute, json={"question": "slow"}, headers=handed_off)
    as_sync = await http.post(ask.execute, json={"question": "slow"}, headers={**handed_off, "Prefer": ""})

    assert replayed.status_code == as_sync.status_code == 202, "the stored answer, though the run has ended"
    assert replayed.json()["executionId"] == as_sync.json()["executionId"] == first.json()["executionId"]
    assert replayed.headers["idempotent-replayed"] == "true"
