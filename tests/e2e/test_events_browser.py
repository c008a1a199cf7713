"""A run's events read by a real browser's own `EventSource` (Chromium): the names, ids and framing the
server sends are what the web platform parses, a page of the server's origin needs no key on a
loopback server without an admin key, nothing is requested from another host, and the browser's
automatic reconnection (with `Last-Event-ID`) gets nothing twice."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest
from playwright.sync_api import Browser, Request

from tests.e2e.test_docs_browser import deploy_live, recorded_page
from tests.fakes.openai_server import FakeOpenAI
from tests.support import LiveServer, ask_flow, bearer, server_env

QUESTION = "one two three four five six"
EVENT_NAMES = [
    "run.started",
    "node.started",
    "node.finished",
    "node.failed",
    "node.skipped",
    "llm.token",
    "run.finished",
    "run.failed",
]

COLLECT = """
async ([url, names, reconnect]) => {
  const events = [];
  const source = new EventSource(url);
  let finished = false;
  return await new Promise((resolve, reject) => {
    const timer = setTimeout(() => { source.close(); reject(new Error("no end: " + JSON.stringify(events))); }, 20000);
    const end = () => { clearTimeout(timer); source.close(); resolve(events); };
    for (const name of names) {
      source.addEventListener(name, (event) => {
        events.push({name, id: event.lastEventId, data: event.data});
        if (name === "run.finished" || name === "run.failed") {
          finished = true;
          if (!reconnect) end();
        }
      });
    }
    // After the last event the server ends the stream (an "error" event, readyState CONNECTING); the
    // browser reconnects on its own after its retry delay, sending Last-Event-ID. Each reconnection
    // answered and ended again is one more "error" event: stop after `reconnect` of them.
    let endings = 0;
    source.addEventListener("error", () => {
      if (finished && reconnect && source.readyState === EventSource.CONNECTING) {
        endings += 1;
        if (endings > reconnect) end();
      }
    });
  });
}
"""
"""Collect every event by name until `run.finished` (or `run.failed`); with `reconnect`, let the browser
reconnect that many times after it before closing."""


@pytest.fixture
def model(openai_server: FakeOpenAI) -> FakeOpenAI:
    openai_server.token_delay = 0.05
    return openai_server


@pytest.fixture
def server(database_url: str, tmp_path: Path, model: FakeOpenAI) -> Iterator[LiveServer]:
    env = server_env(
        database_url, tmp_path / "data", OPENAI_API_BASE_URL=model.base_url, OPENAI_API_KEY="sk-browser-test"
    )
    with LiveServer({**env, "RATE_LIMIT_ENABLED": "false"}) as live:
        yield live


def start_async_run(server: LiveServer) -> str:
    """Deploy `ask_flow()` and start a run in async mode; returns its execution id."""
    deployment = deploy_live(server, "Ask", ask_flow())
    accepted = httpx2.post(
        deployment["endpoint"],
        json={"question": QUESTION},
        headers={**bearer(deployment["apiKey"]), "Prefer": "respond-async"},
        timeout=10,
    )
    assert accepted.status_code == 202, accepted.text
    execution_id: str = accepted.json()["executionId"]
    return execution_id


def assert_run_events(events: list[dict[str, Any]], execution_id: str) -> None:
    names = [event["name"] for event in events]
    assert names[0] == "run.started"
    assert json.loads(events[0]["data"])["executionId"] == execution_id
    assert names[-1] == "run.finished"
    assert [int(event["id"]) for event in events] == list(range(1, len(events) + 1))
    tokens = [json.loads(event["data"]) for event in events if event["name"] == "llm.token"]
    assert len(tokens) >= 2, "the model's words arrived apart, so the browser got them apart"
    assert "".join(token["delta"] for token in tokens) == f"echo: {QUESTION}"
    assert json.loads(events[-1]["data"])["outputs"] == {"answer": f"echo: {QUESTION}"}
    assert "sk-browser-test" not in "".join(event["data"] for event in events)


def test_the_browsers_event_source_reads_a_streamed_run_to_its_end(browser: Browser, server: LiveServer) -> None:
    execution_id = start_async_run(server)
    with recorded_page(browser) as (page, recorded):
        page.goto(f"{server.base_url}/api/info")
        events = page.evaluate(COLLECT, [f"/api/executions/{execution_id}/events", EVENT_NAMES, 0])

        assert_run_events(events, execution_id)
        assert recorded.foreign(server.base_url) == []
        assert recorded.policy_violations() == []


def test_the_browser_reconnects_with_last_event_id_and_gets_nothing_twice(browser: Browser, server: LiveServer) -> None:
    execution_id = start_async_run(server)
    events_url = f"{server.base_url}/api/executions/{execution_id}/events"
    with recorded_page(browser) as (page, recorded):
        sent: list[Request] = []
        page.on("request", lambda request: sent.append(request))
        page.goto(f"{server.base_url}/api/info")
        events = page.evaluate(COLLECT, [events_url, EVENT_NAMES, 1])

        assert_run_events(events, execution_id)
        opened = [request for request in sent if request.url == events_url]
        resumed_after = [request.all_headers().get("last-event-id") for request in opened]
        assert resumed_after == [None, events[-1]["id"]]
        assert recorded.foreign(server.base_url) == []
