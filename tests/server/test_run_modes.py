"""Execute's stream, async and wait modes, and the run resources, over real HTTP (uvicorn in the test's loop)
with a real SSE client (httpx-sse) and a loopback OpenAI-compatible model that streams its tokens."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx

from clara_runner.server.app import create_app
from tests.apps import wait_until
from tests.fakes.openai_server import FakeOpenAI
from tests.server.runs_support import STREAM, deployed, read_stream, wait_final
from tests.serving import serve_in_process
from tests.support import ask_flow, bearer, make_settings
from tests.webhook_receiver import webhook_receiver


async def deploy_ask(http: httpx.AsyncClient, base_url: str, **options: Any) -> dict[str, Any]:
    return await deployed(http, base_url, "Ask", ask_flow(), **options)


async def test_stream_sends_node_events_tokens_and_the_sync_body_last(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    openai_server.token_delay = 0.02
    deployment = await deploy_ask(http, base_url)
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute"
    headers = {**bearer(deployment["apiKey"]), **STREAM}

    question = {"question": "one two three four"}
    response, events = await read_stream(http, "POST", execute, json=question, headers=headers)

    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    assert [event.id for event in events] == [str(number) for number in range(1, len(events) + 1)]
    names = [event.event for event in events]
    assert names[0] == "run.started"
    assert names[-1] == "run.finished"
    started = json.loads(events[0].data)
    assert started["version"] == 1
    tokens = [json.loads(event.data) for event in events if event.event == "llm.token"]
    assert len(tokens) >= 2, "the model's words arrived apart, so they are sent apart"
    assert {token["nodeId"] for token in tokens} == {"llm"}
    assert "".join(token["delta"] for token in tokens) == "echo: one two three four"
    finished = [json.loads(event.data) for event in events if event.event == "node.finished"]
    assert [node["nodeId"] for node in finished] == ["in", "llm", "out"]
    assert names.index("node.started") < names.index("llm.token") < len(names) - 1
    body = json.loads(events[-1].data)
    assert body["success"] is True
    assert body["outputs"] == {"answer": "echo: one two three four"}
    assert body["metadata"]["executionId"] == started["executionId"]
    assert "sk-server-key-for-tests" not in "".join(event.data for event in events)
    assert openai_server.completions()[-1]["stream"] is True

    sync = await http.post(execute, json={"question": "one two three four"}, headers=bearer(deployment["apiKey"]))
    assert sync.json()["outputs"] == body["outputs"]
    assert set(sync.json()["metadata"]) == set(body["metadata"])


async def test_replayed_events_equal_the_live_ones_and_resume_after_last_event_id(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    openai_server.token_delay = 0.05
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute?stream=true"
    question = {"question": "a b c d e f g h"}

    _, first = await read_stream(http, "POST", execute, json=question, headers=bearer(key), stop_after=4)
    execution_id = json.loads(first[0].data)["executionId"]
    events_url = f"{base_url}/api/executions/{execution_id}/events"
    headers = {**bearer(key), "Last-Event-ID": first[-1].id}
    _, rest = await read_stream(http, "GET", events_url, headers=headers)

    assert rest[0].id == str(int(first[-1].id) + 1)
    assert rest[-1].event == "run.finished"
    _, replay = await read_stream(http, "GET", events_url, headers=bearer(key))
    assert [(e.id, e.event, e.data) for e in replay] == [(e.id, e.event, e.data) for e in first + rest]
    _, tail = await read_stream(http, "GET", f"{events_url}?lastEventId={len(replay) - 1}", headers=bearer(key))
    assert [event.event for event in tail] == ["run.finished"]


async def test_async_answers_202_at_once_and_the_run_finishes_without_the_caller(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    openai_server.delay = 2
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute"

    accepted = await http.post(execute, json={"question": "later"}, headers={**bearer(key), "Prefer": "respond-async"})

    assert accepted.status_code == 202, accepted.text
    body = accepted.json()
    assert body["status"] == "running"
    assert accepted.headers["location"] == body["statusUrl"]
    assert accepted.headers["preference-applied"] == "respond-async"
    assert "ratelimit-remaining" in accepted.headers
    meanwhile = (await http.get(body["statusUrl"], headers=bearer(key))).json()["execution"]
    assert meanwhile["status"] == "running", "answered while the model was still thinking"
    execution = await wait_final(http, body["statusUrl"], key)
    assert execution["status"] == "success"
    assert execution["outputs"] == {"answer": "echo: later"}
    assert [entry["nodeId"] for entry in execution["trace"]] == ["in", "llm", "out"]
    _, events = await read_stream(http, "GET", body["eventsUrl"], headers=bearer(key))
    assert events[-1].event == "run.finished"
    assert json.loads(events[-1].data)["outputs"] == {"answer": "echo: later"}

    by_query = await http.post(f"{execute}?mode=async", json={"question": "q"}, headers=bearer(key))
    assert by_query.status_code == 202
    assert (await wait_final(http, by_query.json()["statusUrl"], key))["status"] == "success"


async def test_wait_answers_the_result_in_time_or_hands_off_with_202(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute"

    quick = await http.post(execute, json={"question": "now"}, headers={**bearer(key), "Prefer": "wait=10"})
    assert quick.status_code == 200, quick.text
    assert quick.json()["outputs"] == {"answer": "echo: now"}
    assert quick.headers["preference-applied"] == "wait=10"

    openai_server.delay = 2
    handed_off = {**bearer(key), "Prefer": "respond-async, wait=1"}
    slow = await http.post(execute, json={"question": "slow"}, headers=handed_off)
    assert slow.status_code == 202, slow.text
    assert slow.headers["preference-applied"] == "wait=1"
    assert (await wait_final(http, slow.json()["statusUrl"], key))["outputs"] == {"answer": "echo: slow"}

    capped = await http.post(execute, json={"question": "x"}, headers={**bearer(key), "Prefer": "wait=99999"})
    assert capped.headers["preference-applied"] == "wait=300", "capped at MAX_EXECUTION_TIME"


async def test_cancel_stops_a_running_run_and_records_it_cancelled(
    http: httpx.AsyncClient, base_url: str, openai_server: FakeOpenAI
) -> None:
    openai_server.delay = 30
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute?mode=async"
    accepted = (await http.post(execute, json={"question": "never"}, headers=bearer(key))).json()
    await wait_until(lambda: bool(openai_server.requests_to("/v1/chat/completions")))

    cancelled = await http.post(accepted["cancelUrl"], headers=bearer(key))

    assert cancelled.status_code == 200, cancelled.text
    execution = cancelled.json()["execution"]
    assert execution["status"] == "cancelled"
    assert execution["errorCode"] == "run_cancelled"
    _, events = await read_stream(http, "GET", accepted["eventsUrl"], headers=bearer(key))
    assert events[-1].event == "run.failed"
    assert json.loads(events[-1].data)["code"] == "run_cancelled"
    again = await http.post(accepted["cancelUrl"], headers=bearer(key))
    assert again.status_code == 409
    assert again.json()["code"] == "run_finished"


async def test_an_async_replay_with_the_same_idempotency_key_names_the_same_run(
    http: httpx.AsyncClient, base_url: str
) -> None:
    deployment = await deploy_ask(http, base_url)
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute?mode=async"
    headers = {**bearer(deployment["apiKey"]), "Idempotency-Key": "job-1"}

    first = await http.post(execute, json={"question": "once"}, headers=headers)
    second = await http.post(execute, json={"question": "once"}, headers=headers)

    assert first.status_code == second.status_code == 202
    assert second.json()["executionId"] == first.json()["executionId"]
    assert second.headers["idempotent-replayed"] == "true"
    streamed = {**headers, **STREAM, "Idempotency-Key": "job-2"}
    url = f"{base_url}/api/workflows/{deployment['slug']}/execute"
    _, events = await read_stream(http, "POST", url, json={"question": "twice"}, headers=streamed)
    _, replayed = await read_stream(http, "POST", url, json={"question": "twice"}, headers=streamed)
    assert [event.data for event in replayed] == [event.data for event in events] != []


async def test_refusals_and_invalid_input_answer_before_any_run(http: httpx.AsyncClient, base_url: str) -> None:
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute"

    invalid = await http.post(f"{execute}?mode=async", json={"question": 5}, headers=bearer(key))
    unknown_mode = await http.post(f"{execute}?mode=later", json={}, headers=bearer(key))
    bad_wait = await http.post(execute, json={}, headers={**bearer(key), "Prefer": "wait=soon"})
    streamed_invalid = await http.post(execute, json={"question": 5}, headers={**bearer(key), **STREAM})

    assert (invalid.status_code, invalid.json()["code"]) == (400, "input_validation_failed")
    assert (unknown_mode.status_code, unknown_mode.json()["code"]) == (400, "invalid_mode")
    assert (bad_wait.status_code, bad_wait.json()["code"]) == (400, "invalid_mode")
    assert (streamed_invalid.status_code, streamed_invalid.json()["code"]) == (400, "input_validation_failed")


async def test_run_resources_are_the_deployments_own(http: httpx.AsyncClient, base_url: str) -> None:
    ask = await deploy_ask(http, base_url)
    other = await deploy_ask(http, base_url)
    execute = f"{base_url}/api/workflows/{ask['slug']}/execute"
    sync = (await http.post(execute, json={"question": "hi"}, headers=bearer(ask["apiKey"]))).json()
    run_url = f"{base_url}/api/executions/{sync['metadata']['executionId']}"

    own = await http.get(run_url, headers=bearer(ask["apiKey"]))
    by_admin = await http.get(run_url)
    foreign = await http.get(run_url, headers=bearer(other["apiKey"]))
    no_log = await http.get(f"{run_url}/events", headers=bearer(ask["apiKey"]))
    finished = await http.post(f"{run_url}/cancel", headers=bearer(ask["apiKey"]))
    missing = await http.get(f"{base_url}/api/executions/00000000-0000-4000-8000-000000000000")
    malformed = await http.get(f"{base_url}/api/executions/nope")

    assert own.status_code == by_admin.status_code == 200
    assert own.json()["execution"]["outputs"] == {"answer": "echo: hi"}
    assert own.json()["execution"]["status"] == "success"
    assert (foreign.status_code, foreign.json()["code"]) == (404, "execution_not_found")
    assert (no_log.status_code, no_log.json()["code"]) == (404, "no_event_log")
    assert (finished.status_code, finished.json()["code"]) == (409, "run_finished")
    assert (missing.status_code, missing.json()["code"]) == (404, "execution_not_found")
    assert malformed.status_code == 400


async def test_another_process_sharing_the_database_follows_a_run_from_its_stored_events(
    http: httpx.AsyncClient, base_url: str, database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    openai_server.token_delay = 0.1
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute?mode=async"
    accepted = (await http.post(execute, json={"question": "w1 w2 w3 w4 w5 w6"}, headers=bearer(key))).json()
    other = create_app(make_settings(database_url, tmp_path / "other", OPENAI_API_BASE_URL=openai_server.base_url))

    async with serve_in_process(other) as other_url:
        events_url = f"{other_url}/api/executions/{accepted['executionId']}/events"
        _, followed = await read_stream(http, "GET", events_url, headers=bearer(key))
        cancel = await http.post(f"{other_url}/api/executions/{accepted['executionId']}/cancel", headers=bearer(key))

    _, local = await read_stream(http, "GET", accepted["eventsUrl"], headers=bearer(key))
    assert followed[-1].event == "run.finished"
    assert [(e.id, e.event, e.data) for e in followed] == [(e.id, e.event, e.data) for e in local]
    assert (cancel.status_code, cancel.json()["code"]) == (409, "run_finished")


async def test_a_cancel_reaching_another_process_stops_the_run_where_it_runs(
    http: httpx.AsyncClient, base_url: str, database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    openai_server.delay = 30
    deployment = await deploy_ask(http, base_url)
    key = deployment["apiKey"]
    execute = f"{base_url}/api/workflows/{deployment['slug']}/execute?mode=async"
    accepted = (await http.post(execute, json={"question": "slow"}, headers=bearer(key))).json()
    other = create_app(make_settings(database_url, tmp_path / "other"))

    async with serve_in_process(other) as other_url:
        elsewhere = await http.post(f"{other_url}/api/executions/{accepted['executionId']}/cancel", headers=bearer(key))
        again = await http.post(f"{other_url}/api/executions/{accepted['executionId']}/cancel", headers=bearer(key))
    _, events = await read_stream(http, "GET", accepted["eventsUrl"], headers=bearer(key))

    assert elsewhere.status_code == 200, elsewhere.text
    assert elsewhere.json()["execution"]["status"] == "cancelled"
    assert elsewhere.json()["execution"]["errorCode"] == "run_cancelled"
    assert (again.status_code, again.json()["code"]) == (409, "run_finished")
    assert events[-1].event == "run.failed"
    assert json.loads(events[-1].data)["code"] == "run_cancelled"
    assert len(openai_server.completions()) == 1


async def test_a_finished_run_is_told_to_its_webhooks_and_its_callback_url_signed(
    http: httpx.AsyncClient, database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    settings = make_settings(
        database_url,
        tmp_path / "data",
        OPENAI_API_BASE_URL=openai_server.base_url,
        EGRESS_ALLOW_CIDRS="127.0.0.0/8",
        WEBHOOK_POLL_SECONDS=0.1,
    )
    async with (
        serve_in_process(create_app(settings)) as base_url,
        webhook_receiver() as hooks,
        webhook_receiver() as callbacks,
    ):
        deployment = await deploy_ask(http, base_url, allowCallbackUrl=True)
        key, slug = deployment["apiKey"], deployment["slug"]
        created = await http.post(
            f"{base_url}/api/workflows/{slug}/webhooks", json={"url": hooks.url, "events": ["run.finished"]}
        )
        assert created.status_code == 201, created.text
        hooks.secret = created.json()["webhook"]["secret"]
        callbacks.secret = (await http.get(f"{base_url}/api/workflows/{slug}/callback-secret")).json()["secret"]
        execute = f"{base_url}/api/workflows/{slug}/execute"

        query = {"mode": "async", "callbackUrl": callbacks.url}
        accepted = await http.post(execute, params=query, json={"question": "hi"}, headers=bearer(key))
        (hook,) = await hooks.wait_for(1)
        (callback,) = await callbacks.wait_for(1)
        refused = await http.post(
            f"{execute}?callbackUrl=ftp://example.com/x", json={"question": "hi"}, headers=bearer(key)
        )

    execution_id = accepted.json()["executionId"]
    for delivery in (hook, callback):
        assert delivery.verified, "signed as Standard Webhooks says, verified by the standardwebhooks package"
        assert delivery.json["type"] == "run.succeeded"
        assert delivery.json["data"]["executionId"] == execution_id
        assert delivery.json["data"]["outputs"] == {"answer": "echo: hi"}
    assert (refused.status_code, refused.json()["code"]) == (400, "invalid_callback_url")
