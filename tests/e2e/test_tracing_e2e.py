"""A real `clara-runner serve` with `OTEL_EXPORTER_OTLP_ENDPOINT` pointing at a loopback OTLP/HTTP receiver:
the spans of a request arrive there as protobuf, in the caller's trace, naming the execution."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.e2e.lifecycle import lifecycle_env
from tests.fakes.openai_server import FakeOpenAI
from tests.fakes.otlp_receiver import OtlpReceiver
from tests.support import LiveServer, ask_flow, bearer, deploy_to

TRACE_ID = "4bf92f3577b34da6a3ce929d0e0e4736"


@pytest.fixture
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as server:
        yield server


async def test_spans_reach_an_otlp_collector(
    database_url: str, tmp_path: Path, openai_server: FakeOpenAI, receiver: OtlpReceiver
) -> None:
    env = lifecycle_env(database_url, tmp_path / "data", openai_server, OTEL_EXPORTER_OTLP_ENDPOINT=receiver.url)
    with LiveServer(env) as server:
        async with httpx2.AsyncClient(base_url=server.base_url, timeout=30) as http:
            deployment = await deploy_to(http, "", ask_flow(), "Ask")
            answered = await http.post(
                f"/api/workflows/{deployment['slug']}/execute",
                json={"question": "q"},
                headers={**bearer(deployment["apiKey"]), "traceparent": f"00-{TRACE_ID}-00f067aa0ba902b7-01"},
            )
        assert answered.status_code == 200
        server.stop()  # spans still batched are exported at shutdown

    execution_id = answered.json()["metadata"]["executionId"]
    spans = [span for span in receiver.spans() if span.trace_id == TRACE_ID]
    assert {span.service for span in spans} == {"clara-agent-runner"}
    names = {span.name for span in spans}
    assert {"POST /api/workflows/{slug}/execute", "run ask", "node llm", "chat gpt-3.5-turbo"} <= names
    chat = next(span for span in spans if span.name == "chat gpt-3.5-turbo")
    assert (chat.attributes["gen_ai.usage.input_tokens"], chat.attributes["gen_ai.response.finish_reasons"]) == (
        11,
        ["stop"],
    )
    assert all(span.attributes["clara.execution.id"] == execution_id for span in spans)
