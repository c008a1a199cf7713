from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.context import HttpClients, ServiceEndpoints
from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.agent import AgentExecutorNode, model_name
from tests.fakes.clara_assistant import FakeClaraAssistant
from tests.fakes.mcp_proxy import FakeMcpProxy
from tests.fakes.openai_server import FakeOpenAI
from tests.flow.nodes.remote_calls import node_call

AGENT = AgentExecutorNode()
PROVIDER = "eb8e82fd-231a-45e8-9e02-08bf38de1394"
DATA = {
    "provider": PROVIDER,
    "textModel": f"{PROVIDER}:gpt-oss-20b",
    "enabledMCPServers": ["python-mcp", "stopped-mcp"],
}


def search_then_answer(body: dict[str, Any]) -> str | dict[str, Any]:
    """Call the search tool once, then answer with what it returned."""
    results = [message for message in body["messages"] if message["role"] == "tool"]
    if not results:
        call = {
            "id": "call_1",
            "type": "function",
            "function": {"name": "mcp_python-mcp_search", "arguments": '{"query": "claraverse"}'},
        }
        return {"content": None, "tool_calls": [call]}
    return f"summary of: {results[-1]['content']}"


@pytest.mark.parametrize(
    ("model", "provider", "expected"),
    [
        (f"{PROVIDER}:gpt-oss-20b", PROVIDER, "gpt-oss-20b"),
        ("openai:gpt-4o", "", "gpt-4o"),
        ("llama3.2:latest", "claras-pocket", "llama3.2:latest"),
        ("gpt-4o-mini", "", "gpt-4o-mini"),
        ("ollama:qwen2:7b", "ollama", "qwen2:7b"),
    ],
)
def test_provider_prefixes_are_removed_from_models(model: str, provider: str, expected: str) -> None:
    assert model_name(model, provider) == expected


async def test_the_clara_assistant_answers_when_it_can(
    clara_assistant: FakeClaraAssistant, openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(clara_assistant_url=clara_assistant.url, openai_base_url=openai_server.base_url)
    inputs = {"instructions": "research clara", "context": "be thorough", "attachments": [{"name": "a.txt"}]}

    result = await AGENT.run(node_call(AGENT, http_clients, DATA, inputs, services=services))

    assert result == {
        "result": "assistant did: research clara",
        "toolResults": [{"tool": "search", "result": "found"}],
        "executionLog": "planned; searched; answered",
        "success": True,
        "metadata": {"provider": PROVIDER, "mcpServers": ["python-mcp", "stopped-mcp"]},
    }
    (body,) = clara_assistant.executions()
    assert body["instructions"] == "research clara"
    assert body["context"] == "be thorough"
    assert body["attachments"] == [{"name": "a.txt"}]
    assert body["config"]["textModel"] == f"{PROVIDER}:gpt-oss-20b"
    assert body["config"]["enabledMCPServers"] == ["python-mcp", "stopped-mcp"]
    assert openai_server.requests == []


async def test_fallback_runs_the_tool_loop_through_the_mcp_proxy(
    clara_assistant: FakeClaraAssistant, openai_server: FakeOpenAI, mcp_proxy: FakeMcpProxy, http_clients: HttpClients
) -> None:
    clara_assistant.fail_next(503, {"error": "busy"})
    openai_server.reply = search_then_answer
    services = ServiceEndpoints(
        clara_assistant_url=clara_assistant.url,
        openai_base_url=openai_server.base_url,
        openai_api_key="server-key",
        mcp_proxy_url=mcp_proxy.url,
    )

    result = await AGENT.run(
        node_call(AGENT, http_clients, DATA, {"instructions": "find claraverse"}, services=services)
    )

    assert result["result"] == "summary of: results for claraverse"
    assert result["success"] is True
    assert result["toolResults"] == [
        {
            "tool": "mcp_python-mcp_search",
            "server": "python-mcp",
            "name": "search",
            "arguments": {"query": "claraverse"},
            "result": {"success": True, "content": [{"type": "text", "text": "results for claraverse"}]},
        }
    ]
    assert result["metadata"]["fallback"] is True
    assert result["metadata"]["iterations"] == 2
    assert result["metadata"]["usage"] == {"prompt_tokens": 22, "completion_tokens": 14, "total_tokens": 36}, (
        "both rounds' tokens"
    )
    assert result["metadata"]["mcpEnabled"] is True
    log = result["executionLog"]
    assert "the Clara Assistant answered 503 Service Unavailable: busy; using the LLM fallback" in log

    first, second = openai_server.completions()
    assert first["model"] == "gpt-oss-20b"
    assert (first["temperature"], first["max_tokens"], first["tool_choice"]) == (0.7, 4000, "auto")
    (tool,) = first["tools"]
    assert tool["function"]["name"] == "mcp_python-mcp_search"
    assert tool["function"]["description"] == "[MCP:python-mcp] Search the web"
    assert "$schema" not in tool["function"]["parameters"]
    assert first["messages"][1] == {"role": "user", "content": "Instructions: find claraverse"}
    assert second["messages"][-1] == {"role": "tool", "tool_call_id": "call_1", "content": "results for claraverse"}
    assert second["messages"][-2]["tool_calls"][0]["id"] == "call_1"
    assert openai_server.requests[0].headers["authorization"] == "Bearer server-key"

    listed = [(body["server"], body["name"]) for body in mcp_proxy.executions()]
    assert listed == [("python-mcp", "tools/list"), ("python-mcp", "search")], "the stopped server is not asked"


async def test_the_loop_stops_after_max_tool_calls(
    openai_server: FakeOpenAI, mcp_proxy: FakeMcpProxy, http_clients: HttpClients
) -> None:
    call = {"id": "c", "type": "function", "function": {"name": "mcp_python-mcp_search", "arguments": "{}"}}
    openai_server.reply = lambda _body: {"content": "still searching", "tool_calls": [call]}
    services = ServiceEndpoints(
        clara_assistant_url="http://127.0.0.1:9", openai_base_url=openai_server.base_url, mcp_proxy_url=mcp_proxy.url
    )
    data = {**DATA, "maxToolCalls": 3}

    result = await AGENT.run(node_call(AGENT, http_clients, data, {"instructions": "loop"}, services=services))

    assert result["success"] is False
    assert result["metadata"]["warning"] == "Max iterations reached"
    assert result["result"] == "still searching"
    assert len(openai_server.requests) == 3
    assert "could not reach the Clara Assistant at http://127.0.0.1:9" in result["executionLog"]


async def test_unknown_tools_and_failing_tools_are_reported_to_the_model(
    openai_server: FakeOpenAI, mcp_proxy: FakeMcpProxy, http_clients: HttpClients
) -> None:
    calls = [
        {"id": "a", "type": "function", "function": {"name": "mcp_nowhere_tool", "arguments": "{}"}},
        {"id": "b", "type": "function", "function": {"name": "mcp_python-mcp_search", "arguments": "{}"}},
    ]

    def reply(body: dict[str, Any]) -> str | dict[str, Any]:
        if any(message["role"] == "tool" for message in body["messages"]):
            return "done"
        mcp_proxy.fail_next(500, {"error": "crashed"}, path="/api/tools/execute")
        return {"content": None, "tool_calls": calls}

    openai_server.reply = reply
    services = ServiceEndpoints(
        clara_assistant_url="http://127.0.0.1:9", openai_base_url=openai_server.base_url, mcp_proxy_url=mcp_proxy.url
    )

    result = await AGENT.run(node_call(AGENT, http_clients, DATA, {"instructions": "try"}, services=services))

    assert result["result"] == "done"
    assert result["toolResults"] == []
    tool_messages = [m for m in openai_server.completions()[1]["messages"] if m["role"] == "tool"]
    assert tool_messages == [
        {
            "role": "tool",
            "tool_call_id": "a",
            "content": "Error executing tool: there is no tool named mcp_nowhere_tool",
        },
        {
            "role": "tool",
            "tool_call_id": "b",
            "content": (
                "Error executing tool: the MCP tool python-mcp/search answered 500 Internal Server Error: crashed"
            ),
        },
    ]


async def test_without_an_mcp_proxy_the_model_answers_without_tools(
    openai_server: FakeOpenAI, http_clients: HttpClients
) -> None:
    services = ServiceEndpoints(
        clara_assistant_url="http://127.0.0.1:9",
        openai_base_url=openai_server.base_url,
        mcp_proxy_url="http://127.0.0.1:9",
    )

    result = await AGENT.run(
        node_call(AGENT, http_clients, DATA, {"instructions": "hello", "context": "c"}, services=services)
    )

    assert result["result"] == "echo: Instructions: hello\n\nContext: c"
    assert result["metadata"]["mcpEnabled"] is False
    assert "tools" not in openai_server.completions()[0]
    assert "MCP proxy unavailable" in result["executionLog"]


async def test_instructions_are_required(http_clients: HttpClients) -> None:
    with pytest.raises(NodeError, match="instructions are required"):
        await AGENT.run(node_call(AGENT, http_clients, DATA, {"context": "only context"}))
