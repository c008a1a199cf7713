"""Environment injection: server keys reach only the base URL they were configured for."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TypedDict

import pytest

from clara_runner.flow.context import HttpClients, ServiceEndpoints
from clara_runner.flow.nodes.agent import AgentExecutorNode
from clara_runner.flow.nodes.endpoints import Wire, llm_endpoint
from clara_runner.flow.nodes.llm import LlmNode
from clara_runner.flow.nodes.structured import StructuredLlmNode
from tests.fakes.anthropic_server import FakeAnthropic
from tests.fakes.openai_server import FakeOpenAI
from tests.flow.nodes.remote_calls import node_call


class ServerKeys(TypedDict):
    openai_api_key: str
    anthropic_api_key: str


SERVER_KEYS = ServerKeys(openai_api_key="sk-server-openai", anthropic_api_key="sk-server-anthropic")


@pytest.fixture
def attacker() -> Iterator[FakeOpenAI]:
    """A server a workflow author controls, on another port than the configured provider."""
    with FakeOpenAI() as server:
        yield server


@pytest.fixture
def keys_in_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The SDKs read these when not told otherwise; the nodes must never let them."""
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env-openai")
    monkeypatch.setenv("OPENAI_ORG_ID", "org-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1")
    monkeypatch.setenv("ANTHROPIC_API_KEY", "sk-env-anthropic")


def leaked(server: FakeOpenAI | FakeAnthropic) -> list[str]:
    secrets = ("sk-server", "sk-env", "org-env")
    return [
        f"{name}: {value}"
        for request in server.requests
        for name, value in request.headers.items()
        if any(secret in value for secret in secrets)
    ]


@pytest.mark.usefixtures("keys_in_environment")
async def test_an_llm_pointed_at_another_host_gets_no_server_key(
    openai_server: FakeOpenAI, attacker: FakeOpenAI, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(openai_base_url=openai_server.base_url, **SERVER_KEYS)
    llm = LlmNode()

    await llm.run(node_call(llm, http_clients, {"apiBaseUrl": attacker.base_url}, {"user": "x"}, services=services))
    await llm.run(node_call(llm, http_clients, {}, {"user": "x"}, services=services))

    assert len(attacker.requests) == 1
    assert "authorization" not in attacker.requests[0].headers
    assert leaked(attacker) == []
    assert openai_server.requests[0].headers["authorization"] == "Bearer sk-server-openai"


@pytest.mark.usefixtures("keys_in_environment")
async def test_structured_llm_and_agent_fallback_pointed_elsewhere_get_no_server_key(
    attacker: FakeOpenAI, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(clara_assistant_url="http://127.0.0.1:9", **SERVER_KEYS)
    structured, agent = StructuredLlmNode(), AgentExecutorNode()
    data = {"apiBaseUrl": attacker.base_url}

    await structured.run(node_call(structured, http_clients, data, {"prompt": "p"}, services=services))
    await agent.run(node_call(agent, http_clients, data, {"instructions": "do it"}, services=services))

    assert len(attacker.requests) == 2
    assert leaked(attacker) == []
    assert all("authorization" not in request.headers for request in attacker.requests)


@pytest.mark.usefixtures("keys_in_environment")
async def test_anthropic_pointed_elsewhere_gets_no_server_key(
    anthropic_server: FakeAnthropic, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(**SERVER_KEYS)
    llm = LlmNode()
    data = {"provider": "anthropic", "apiBaseUrl": anthropic_server.url}

    await llm.run(node_call(llm, http_clients, data, {"user": "x"}, services=services))

    headers = anthropic_server.requests[0].headers
    assert "authorization" not in headers
    assert "x-api-key" not in headers
    assert leaked(anthropic_server) == []


async def test_a_node_key_is_used_as_given_anywhere(attacker: FakeOpenAI, http_clients: HttpClients) -> None:
    llm = LlmNode()
    data = {"apiBaseUrl": attacker.base_url, "apiKey": " own-key "}

    await llm.run(node_call(llm, http_clients, data, {"user": "x"}, services=ServiceEndpoints(**SERVER_KEYS)))

    assert attacker.requests[0].headers["authorization"] == "Bearer own-key"


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8091/v1evil",
        "http://127.0.0.1:8091/v1@evil.example/",
        "http://127.0.0.1:8091@evil.example/v1",
        "http://127.0.0.1:80911/v1",
        "https://127.0.0.1:8091/v1",
        "http://evil.example/?http://127.0.0.1:8091/v1",
    ],
)
def test_look_alike_urls_get_no_key(url: str) -> None:
    services = ServiceEndpoints(openai_base_url="http://127.0.0.1:8091/v1", openai_api_key="k")

    assert services.key_for(url) == ""


def test_urls_under_the_configured_base_get_its_key() -> None:
    services = ServiceEndpoints(openai_base_url="http://127.0.0.1:8091/v1", openai_api_key="k")

    assert services.key_for("http://127.0.0.1:8091/v1") == "k"
    assert services.key_for("http://127.0.0.1:8091/v1/chat/completions") == "k"


def test_endpoint_resolution(http_clients: HttpClients) -> None:
    services = ServiceEndpoints(
        openai_base_url="http://openai.local/v1",
        openai_api_key="ko",
        anthropic_api_key="ka",
        openrouter_api_key="kr",
        ollama_url="http://ollama.local:11434",
        trusted=frozenset({"http://openai.local/v1", "http://ollama.local:11434"}),
    )
    call = node_call(LlmNode(), http_clients, services=services)

    default = llm_endpoint(call)
    assert (default.wire, default.base_url, default.api_key) == (Wire.OPENAI, "http://openai.local/v1", "ko")
    assert default.client is http_clients.services
    claude = llm_endpoint(call, base_url="https://api.anthropic.com/v1/")
    assert (claude.wire, claude.base_url, claude.api_key) == (Wire.ANTHROPIC, "https://api.anthropic.com", "ka")
    router = llm_endpoint(call, provider="openrouter")
    assert (router.base_url, router.api_key) == ("https://openrouter.ai/api/v1", "kr")
    ollama = llm_endpoint(call, provider="ollama")
    assert (ollama.base_url, ollama.api_key) == ("http://ollama.local:11434/v1", "")
    assert ollama.client is http_clients.services
    chosen = llm_endpoint(call, base_url="http://elsewhere.example/v1")
    assert (chosen.api_key, chosen.client) == ("", http_clients.workflow)
    assert router.client is http_clients.workflow, "a default base URL nobody set is not trusted"


async def test_kept_sdk_clients_send_each_call_its_own_key_or_none(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    """SDK clients are kept between calls to one endpoint; a call still carries exactly its own key."""
    llm = LlmNode()
    services = ServiceEndpoints(openai_base_url=openai_server.base_url)

    for key in ("key-a", "key-b", "", "key-a"):
        await llm.run(node_call(llm, http_clients, {"apiKey": key}, {"user": "x"}, services=services))

    sent = [request.headers.get("authorization") for request in openai_server.requests]
    assert sent == ["Bearer key-a", "Bearer key-b", None, "Bearer key-a"]
