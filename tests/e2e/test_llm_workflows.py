"""The shared Studio workflows that call LLMs, agents and HTTP APIs, deployed to and executed by the
real server (`clara-runner serve` in a child process) with every external service a loopback fake
configured through settings (`OPENAI_API_BASE_URL`, `CLARA_ASSISTANT_URL`, `MCP_PROXY_URL`); the
egress policy lets workflows reach loopback, where the fake search API of the research flow runs.

Several exports hard-code their author's local model server (`http://localhost:8091/v1`) as the
node's `apiBaseUrl`; `pointed_at` replaces it by the fake's URL, as a user deploying them would.
"""

from __future__ import annotations

import copy
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.fakes.clara_assistant import FakeClaraAssistant
from tests.fakes.http_api import FakeHttpApi
from tests.fakes.mcp_proxy import FakeMcpProxy
from tests.fakes.openai_server import FakeOpenAI, last_user_text
from tests.support import LiveServer, bearer, server_env, shared_workflow

SERVER_KEY = "sk-server-openai"
AUTHOR_MODEL_SERVERS = ("http://localhost:8091/v1", "http://127.0.0.1:8091/v1")


def pointed_at(workflow: Any, base_url: str) -> Any:
    """The workflow with every node's `apiBaseUrl` on the author's machine replaced by `base_url`."""
    document = copy.deepcopy(workflow)
    flow = document.get("flow", document)
    for node in flow["nodes"]:
        if node.get("data", {}).get("apiBaseUrl") in AUTHOR_MODEL_SERVERS:
            node["data"]["apiBaseUrl"] = base_url
    return document


@pytest.fixture
def runner(
    database_url: str,
    tmp_path: Path,
    openai_server: FakeOpenAI,
    clara_assistant: FakeClaraAssistant,
    mcp_proxy: FakeMcpProxy,
) -> Iterator[LiveServer]:
    env = server_env(
        database_url,
        tmp_path / "data",
        OPENAI_API_BASE_URL=openai_server.base_url,
        OPENAI_API_KEY=SERVER_KEY,
        CLARA_ASSISTANT_URL=clara_assistant.url,
        MCP_PROXY_URL=mcp_proxy.url,
        EGRESS_ALLOW_CIDRS="127.0.0.0/8",
    )
    with LiveServer(env) as server:
        yield server


@pytest.fixture
async def http(runner: LiveServer) -> AsyncIterator[httpx2.AsyncClient]:
    async with runner.client() as client:
        yield client


async def deploy_and_run(http: httpx2.AsyncClient, workflow: Any, name: str, inputs: dict[str, Any]) -> dict[str, Any]:
    deployed = await http.post("/api/deploy", json={"name": name, "workflow": workflow})
    assert deployed.status_code == 201, deployed.text
    deployment = deployed.json()["deployment"]
    response = await http.post(
        f"/api/workflows/{deployment['slug']}/execute", json=inputs, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200, response.text
    outputs: dict[str, Any] = response.json()["outputs"]
    return outputs


async def test_testing_sdk_flow(http: httpx2.AsyncClient, openai_server: FakeOpenAI) -> None:
    workflow = pointed_at(shared_workflow("Testing_SDK_flow_sdk.json"), openai_server.base_url)

    outputs = await deploy_and_run(http, workflow, "Testing SDK", {"input": "hello there"})

    assert list(outputs.values()) == ["echo: hello there"]
    (request,) = openai_server.requests
    assert request.headers["authorization"] == "Bearer s", "the node's own key, not the server's"
    body = request.json()
    assert (body["model"], body["temperature"], body["max_tokens"]) == ("gemma3:4b", 0.7, 1000)
    assert body["messages"] == [{"role": "user", "content": "hello there"}]


async def test_simple_llm_flow_fills_its_prompt_template(http: httpx2.AsyncClient, openai_server: FakeOpenAI) -> None:
    outputs = await deploy_and_run(
        http, shared_workflow("simple-llm-flow.json"), "Simple LLM", {"tellMeWhatToDo": "plan my day"}
    )

    prompt = (
        "You are a helpful AI assistant. Please respond to the user's question or request in a clear "
        "and helpful way:\n\nplan my day"
    )
    assert outputs == {"aIResponse": f"echo: {prompt}"}
    (request,) = openai_server.requests
    assert request.headers["authorization"] == f"Bearer {SERVER_KEY}", "configured base URL, configured key"
    body = request.json()
    assert (body["model"], body["max_tokens"]) == ("llama3.2", 500)
    assert body["messages"] == [{"role": "user", "content": prompt}]


async def test_simple_chat_assistant(http: httpx2.AsyncClient, openai_server: FakeOpenAI) -> None:
    workflow = pointed_at(shared_workflow("simple-chat-assistant.json"), openai_server.base_url)

    outputs = await deploy_and_run(http, workflow, "Chat", {"howCanIHelpYou": "hi clara"})

    assert list(outputs.values()) == ["echo: hi clara"]
    messages = openai_server.completions()[0]["messages"]
    assert messages[0]["role"] == "system"
    assert messages[0]["content"].startswith("You are a chatbot named clara")
    assert messages[1] == {"role": "user", "content": "hi clara"}
    assert openai_server.requests[0].headers["authorization"] == "Bearer dddd"


async def test_content_summarizer(http: httpx2.AsyncClient, openai_server: FakeOpenAI) -> None:
    workflow = pointed_at(shared_workflow("content-summarizer.json"), openai_server.base_url)

    outputs = await deploy_and_run(http, workflow, "Summarizer", {"input": "A long article."})

    user = "A long article. Summarize the provided content in a better way so its easy to read"
    assert list(outputs.values()) == [f"echo: {user}"]
    system, message = openai_server.completions()[0]["messages"]
    assert system["content"].startswith("You are a content summarizer")
    assert message == {"role": "user", "content": user}


def agent_or_echo(body: dict[str, Any]) -> str | dict[str, Any]:
    """The agent's calls (they offer tools) search once, then summarise; other calls echo."""
    if "tools" not in body:
        return f"echo: {last_user_text(body)}"
    results = [message["content"] for message in body["messages"] if message["role"] == "tool"]
    if results:
        return f"summary of: {results[-1]}"
    arguments = json.dumps({"query": "claraverse"})
    call = {"id": "call_1", "type": "function", "function": {"name": "mcp_python-mcp_search", "arguments": arguments}}
    return {"content": None, "tool_calls": [call]}


async def test_autonomous_research_agent_through_the_clara_assistant(
    http: httpx2.AsyncClient, openai_server: FakeOpenAI, clara_assistant: FakeClaraAssistant
) -> None:
    workflow = pointed_at(shared_workflow("autonomous-research-agent.json"), openai_server.base_url)

    outputs = await deploy_and_run(http, workflow, "Agent", {"input": "search about claraverse"})

    instructions = clara_assistant.executions()[0]["instructions"]
    assert instructions.startswith("You will always try to search")
    assert list(outputs.values()) == [f"echo: assistant did: {instructions}"]
    assert clara_assistant.executions()[0]["context"] == "search about claraverse"


async def test_autonomous_research_agent_falls_back_to_the_mcp_tool_loop(
    http: httpx2.AsyncClient, openai_server: FakeOpenAI, clara_assistant: FakeClaraAssistant, mcp_proxy: FakeMcpProxy
) -> None:
    clara_assistant.fail_next(503, {"error": "not running"})
    openai_server.reply = agent_or_echo
    workflow = pointed_at(shared_workflow("autonomous-research-agent.json"), openai_server.base_url)

    outputs = await deploy_and_run(http, workflow, "Agent", {"input": "search about claraverse"})

    assert list(outputs.values()) == ["echo: summary of: results for claraverse"]
    agent_calls = [body for body in openai_server.completions() if "tools" in body]
    assert [body["model"] for body in agent_calls] == ["gpt-oss-20b-20b", "gpt-oss-20b-20b"]
    assert [(call["server"], call["name"]) for call in mcp_proxy.executions()] == [
        ("python-mcp", "tools/list"),
        ("python-mcp", "search"),
    ]
    agent_keys = {r.headers["authorization"] for r in openai_server.requests if "tools" in r.json()}
    assert agent_keys == {f"Bearer {SERVER_KEY}"}, "the agent has no base URL: the configured one and its key"


async def test_research_assistant_flow(
    http: httpx2.AsyncClient, openai_server: FakeOpenAI, http_api: FakeHttpApi
) -> None:
    workflow = shared_workflow("research-assistant-flow.json")
    search = next(node for node in workflow["nodes"] if node["id"] == "api-search")
    search["data"]["url"] = search["data"]["url"].replace("https://api.duckduckgo.com/", f"{http_api.url}/anything")

    outputs = await deploy_and_run(
        http, workflow, "Research", {"researchTopic": "quantum computing", "analysisDepth": "Expert"}
    )

    (searched,) = http_api.requests
    assert searched.query == "q=quantum%20computing&format=json&no_html=1&skip_disambig=1"
    assert searched.headers["user-agent"] == "Clara Research Assistant"
    analysis_request, summary_request = openai_server.completions()
    prompt = analysis_request["messages"][0]["content"]
    assert prompt.startswith("You are a research analyst. I've gathered some information about: quantum computing")
    assert '"path":"/anything"' in prompt, "the search results are in the prompt"
    assert "Analysis depth requested: Expert" in prompt
    assert (analysis_request["temperature"], analysis_request["model"]) == (0.3, "llama3.2")
    assert outputs["researchAnalysis"] == f"echo: {prompt}"
    assert summary_request["messages"][1]["content"].startswith(
        f"Create a structured summary of this research analysis: echo: {prompt}"
    )
    assert summary_request["response_format"]["type"] == "json_schema"
    assert outputs["structuredSummary"] == {
        "title": "example",
        "summary": "example",
        "keyPoints": ["example"],
        "confidence": 0.5,
        "sources": ["example"],
    }
