"""LLM calls as the server watches them: what the engine reports of each call (`flow/llm_calls.py`) and
the metrics the server's watcher moves, with loopback model servers speaking the real protocols."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from prometheus_client import REGISTRY

from clara_runner.flow.context import HttpClients, ServiceEndpoints
from clara_runner.flow.errors import NodeError
from clara_runner.flow.llm_calls import LlmCall
from clara_runner.flow.nodes.llm import LlmNode
from clara_runner.telemetry.llm import observe_llm_call
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.flow.nodes.remote_calls import node_call

LLM = LlmNode()


class Watched:
    """An observer that keeps every call it saw and whether it ended with an exception."""

    def __init__(self) -> None:
        self.calls: list[tuple[LlmCall, bool]] = []

    @contextmanager
    def __call__(self, call: LlmCall) -> Iterator[None]:
        failed = True
        try:
            yield
            failed = False
        finally:
            self.calls.append((call, failed))


def sample(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_each_call_reports_model_tokens_and_finish_reason(
    openai_server: FakeOpenAI, anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    watched = Watched()
    services = ServiceEndpoints(
        openai_base_url=openai_server.base_url,
        openai_api_key="k",
        anthropic_base_url=anthropic_server.url,
        anthropic_api_key="a",
    )
    data = {"model": "gpt-test", "maxTokens": 50}
    await LLM.run(node_call(LLM, http_clients, data, {"user": "hi"}, services=services, llm_calls=watched))
    anthropic = {"provider": "anthropic", "model": "claude-test"}
    await LLM.run(node_call(LLM, http_clients, anthropic, {"user": "hi"}, services=services, llm_calls=watched))

    (openai_call, openai_failed), (anthropic_call, anthropic_failed) = watched.calls
    assert (openai_failed, anthropic_failed) == (False, False)
    assert openai_call == LlmCall(
        "openai", "gpt-test", 50, 0.7, "gpt-test", 11, 7, "stop", [{"role": "user", "content": "hi"}], "echo: hi"
    )
    assert anthropic_call.provider == "anthropic"
    assert anthropic_call.temperature is None, "Anthropic gets no temperature the node did not choose"
    assert (anthropic_call.prompt_tokens, anthropic_call.completion_tokens) == (13, 5)
    assert anthropic_call.finish_reason == "end_turn"


async def test_the_servers_watcher_counts_calls_tokens_and_failures(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(openai_base_url=openai_server.base_url, openai_api_key="right")
    labels = {"provider": "openai", "model": "metered-model"}
    before = {
        "ok": sample("clara_llm_calls_total", **labels, outcome="ok"),
        "error": sample("clara_llm_calls_total", **labels, outcome="error"),
        "prompt": sample("clara_llm_tokens_total", **labels, kind="prompt"),
        "completion": sample("clara_llm_tokens_total", **labels, kind="completion"),
        "timed": sample("clara_llm_call_duration_seconds_count", **labels),
    }
    data = {"model": "metered-model"}
    await LLM.run(node_call(LLM, http_clients, data, {"user": "a"}, services=services, llm_calls=observe_llm_call))
    openai_server.api_key = "another"
    with pytest.raises(NodeError):
        await LLM.run(node_call(LLM, http_clients, data, {"user": "b"}, services=services, llm_calls=observe_llm_call))

    assert sample("clara_llm_calls_total", **labels, outcome="ok") - before["ok"] == 1
    assert sample("clara_llm_calls_total", **labels, outcome="error") - before["error"] == 1
    assert sample("clara_llm_tokens_total", **labels, kind="prompt") - before["prompt"] == 11
    assert sample("clara_llm_tokens_total", **labels, kind="completion") - before["completion"] == 7
    assert sample("clara_llm_call_duration_seconds_count", **labels) - before["timed"] == 2
