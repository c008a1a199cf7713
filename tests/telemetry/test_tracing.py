"""Traces of a real server in the test's process, exported to an in-memory exporter: a request continues
its caller's `traceparent` through the run, its nodes and the LLM call to the loopback model, which
receives the trace's `traceparent`; every span of the run names the execution."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from opentelemetry.sdk.trace import ReadableSpan
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from clara_runner.server.app import create_app
from clara_runner.telemetry import tracing
from tests.fakes.openai_server import FakeOpenAI
from tests.server.runs_support import deployed
from tests.serving import serve_in_process
from tests.support import ask_flow, bearer, make_settings

TRACE_ID = "0af7651916cd43dd8448eb211c80319c"
CALLER_SPAN = "b7ad6b7169203331"


@pytest.fixture
def exported() -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.install(exporter, "clara-test", batch=False)
    yield exporter
    tracing.shutdown()


def by_name(spans: list[ReadableSpan], name: str) -> ReadableSpan:
    (found,) = [span for span in spans if span.name == name]
    return found


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_the_callers_trace_goes_through_run_nodes_and_the_model_call(
    exported: InMemorySpanExporter, database_url: str, tmp_path: Path, openai_server: FakeOpenAI
) -> None:
    settings = make_settings(
        database_url, tmp_path / "data", OPENAI_API_BASE_URL=openai_server.base_url, OPENAI_API_KEY="sk-server"
    )
    async with serve_in_process(create_app(settings)) as url, httpx.AsyncClient(timeout=30) as http:
        deployment = await deployed(http, url, "Ask", ask_flow())
        answered = await http.post(
            f"{url}/api/workflows/{deployment['slug']}/execute",
            json={"question": "secret plans"},
            headers={**bearer(deployment["apiKey"]), "traceparent": f"00-{TRACE_ID}-{CALLER_SPAN}-01"},
        )
    assert answered.status_code == 200
    execution_id = answered.json()["metadata"]["executionId"]
    spans = [span for span in exported.get_finished_spans() if f"{span.context.trace_id:032x}" == TRACE_ID]

    request = by_name(spans, "POST /api/workflows/{slug}/execute")
    assert request.kind is SpanKind.SERVER
    assert parent_of(request) == int(CALLER_SPAN, 16), "the caller's traceparent is honoured"
    assert request.attributes is not None
    assert request.attributes["http.response.status_code"] == 200
    run = by_name(spans, "run ask")
    assert parent_of(run) == request.context.span_id
    nodes = {span.name: span for span in spans if span.name.startswith("node ")}
    assert set(nodes) == {"node input", "node llm", "node output"}
    assert {parent_of(node) for node in nodes.values()} == {run.context.span_id}
    chat = by_name(spans, "chat gpt-3.5-turbo")
    assert chat.kind is SpanKind.CLIENT
    assert parent_of(chat) == nodes["node llm"].context.span_id
    attributes = dict(chat.attributes or {})
    assert attributes["gen_ai.usage.input_tokens"] == 11
    assert attributes["gen_ai.usage.output_tokens"] == 7
    assert attributes["gen_ai.response.finish_reasons"] == ("stop",)
    assert attributes["gen_ai.provider.name"] == "openai"
    assert (attributes["gen_ai.operation.name"], attributes["gen_ai.request.model"]) == ("chat", "gpt-3.5-turbo")
    assert "gen_ai.input.messages" not in attributes, "no prompt text unless enabled"
    assert not any("secret plans" in str(value) for span in spans for value in (span.attributes or {}).values())
    outbound = [span for span in spans if span.kind is SpanKind.CLIENT and parent_of(span) == chat.context.span_id]
    assert outbound, "the HTTP call to the model is a span of the LLM call"
    (model_request,) = openai_server.requests_to("/v1/chat/completions")
    assert model_request.headers["traceparent"].split("-")[1] == TRACE_ID, "traceparent goes to outbound calls"
    assert all((span.attributes or {}).get("clara.execution.id") == execution_id for span in spans)
