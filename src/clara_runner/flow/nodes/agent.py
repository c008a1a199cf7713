"""The `agent-executor` node: an autonomous agent with MCP tools.

First choice is the Clara Assistant service (`POST {CLARA_ASSISTANT_URL}/api/execute-agent`), as
the server engine does. When it is unreachable or answers with an error, the node runs the server
engine's fallback itself: an OpenAI-compatible chat loop offered the tools of the enabled MCP
servers (through the MCP proxy), that runs the tools the model asks for and feeds their results
back as `role: tool` messages, for at most `maxToolCalls` rounds.

Studio stores models as `"<providerId>:<model>"`; the provider prefix is removed before the model
name reaches an API.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.chat import ChatReply, chat
from clara_runner.flow.nodes.llm import LLM_DEFAULTS, LlmSettings
from clara_runner.flow.nodes.mcp import McpProxy, McpTool, format_result
from clara_runner.flow.nodes.remote import json_body, send
from clara_runner.flow.nodes.values import as_text, parse_json_text, to_number

_KNOWN_PROVIDERS = frozenset({"openai", "anthropic", "openrouter", "ollama", "claras-pocket", "custom"})
_MAX_ROUNDS = 100
_ASSISTANT = "the Clara Assistant"
_ASSISTANT_TIMEOUT = 300.0
_FALLBACK_SYSTEM = (
    "You are an autonomous AI agent with access to powerful tools. Use the available tools to accomplish "
    "your tasks effectively. When a task is complete, provide a clear final answer without making "
    "additional tool calls."
)


def model_name(model: str, provider: str) -> str:
    """`model` without a `"<provider>:"` prefix (the node's provider id, or a known provider name).

    An Ollama tag such as `llama3.2:latest` is left whole: its prefix names no provider.
    """
    prefix, separator, rest = model.partition(":")
    if separator and rest and (prefix == provider or prefix.lower() in _KNOWN_PROVIDERS or _looks_like_id(prefix)):
        return rest
    return model


def _looks_like_id(prefix: str) -> bool:
    """Studio's custom provider ids are UUIDs."""
    parts = prefix.split("-")
    return [len(part) for part in parts] == [8, 4, 4, 4, 12]


class AgentExecutorNode(NodeType):
    type_name = "agent-executor"
    title = "Agent Executor"
    description = "An autonomous agent: the Clara Assistant service, else an LLM loop with MCP tools."
    inputs = (
        PortSpec("instructions", "Instructions", "string"),
        PortSpec("context", "Context", "string"),
        PortSpec("attachments", "Attachments", "array"),
    )
    outputs = (
        PortSpec("result", "Result", "string", aliases=("output",)),
        PortSpec("toolResults", "Tool Results", "array"),
        PortSpec("executionLog", "Execution Log", "string"),
        PortSpec("success", "Success", "boolean"),
        PortSpec("metadata", "Metadata", "object"),
    )
    usage_path = ("metadata", "usage")
    defaults = {
        **LLM_DEFAULTS,
        "provider": "",
        "textModel": "gpt-4o-mini",
        "visionModel": "",
        "codeModel": "",
        "enabledMCPServers": [],
        "temperature": 0.7,
        "maxTokens": 4000,
        "maxToolCalls": 10,
        "instructions": "",
    }

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        instructions = as_text(call.inputs.get("instructions")) or call.text_prop("instructions")
        if not instructions:
            raise NodeError("instructions are required: connect a value to the node's instructions port")
        context = as_text(call.inputs.get("context"))
        log: list[str] = []
        answer = await _ask_assistant(call, instructions, context, log)
        if answer is not None:
            return answer
        return await _fallback(call, instructions, context, log)


def _provider(call: NodeCall) -> str:
    return call.text_prop("provider") or call.context.services.agent_provider


def _servers(call: NodeCall) -> list[str]:
    servers = call.prop("enabledMCPServers")
    return [str(name) for name in servers] if isinstance(servers, list) else []


async def _ask_assistant(call: NodeCall, instructions: str, context: str, log: list[str]) -> dict[str, Any] | None:
    """The Clara Assistant's answer in the node's output shape, or None when it cannot give one."""
    url = call.context.services.clara_assistant_url.rstrip("/") + "/api/execute-agent"
    text_model = call.text_prop("textModel")
    attachments = parse_json_text(call.inputs.get("attachments"))
    body = {
        "instructions": instructions,
        "context": context,
        "attachments": attachments if isinstance(attachments, list) else [],
        "config": {
            "provider": _provider(call),
            "textModel": text_model,
            "visionModel": call.text_prop("visionModel") or text_model,
            "codeModel": call.text_prop("codeModel") or text_model,
            "enabledMCPServers": _servers(call),
            "temperature": to_number(call.prop("temperature")),
            "maxTokens": to_number(call.prop("maxTokens")),
            "maxToolCalls": to_number(call.prop("maxToolCalls")),
        },
    }
    try:
        response = await send(call, _ASSISTANT, "POST", url, json=body, timeout=_ASSISTANT_TIMEOUT)
        result = json_body(response, _ASSISTANT)
    except NodeError as exc:
        log.append(f"{exc}; using the LLM fallback")
        return None
    if not isinstance(result, Mapping):
        log.append("the Clara Assistant answered something other than a JSON object; using the LLM fallback")
        return None
    metadata = result.get("metadata")
    return {
        "result": as_text(result.get("output") or result.get("result")),
        "toolResults": result.get("toolResults") or [],
        "executionLog": as_text(result.get("log") or result.get("executionLog")),
        "success": result.get("success") is not False,
        "metadata": {**(metadata if isinstance(metadata, Mapping) else {}), "mcpServers": _servers(call)},
    }


async def _fallback(call: NodeCall, instructions: str, context: str, log: list[str]) -> dict[str, Any]:
    provider = _provider(call)
    model = model_name(call.text_prop("textModel"), provider)
    settings = LlmSettings.of(call, model)
    proxy = McpProxy(call)
    tools = await proxy.discover(_servers(call), log)
    by_name = {tool.function_name: tool for tool in tools}
    offered = [tool.as_openai_tool() for tool in tools]
    user = f"Instructions: {instructions}" + (f"\n\nContext: {context}" if context else "")
    messages: list[dict[str, Any]] = [
        {"role": "system", "content": _FALLBACK_SYSTEM},
        {"role": "user", "content": user},
    ]
    tool_results: list[dict[str, Any]] = []
    rounds = max(1, min(_MAX_ROUNDS, int(to_number(call.prop("maxToolCalls")))))
    reply: ChatReply | None = None
    spent: dict[str, int] = {}
    for round_number in range(1, rounds + 1):
        log.append(f"[Iteration {round_number}]")
        reply = await chat(settings.endpoint, settings.request(messages, tools=offered))
        _add_usage(spent, reply.usage)
        messages.append(reply.assistant_message())
        if not reply.tool_calls:
            log.append(f"Task completed after {round_number} iterations")
            return _fallback_result(reply.content, tool_results, log, True, reply, spent, round_number, bool(tools))
        for tool_call in reply.tool_calls:
            content = await _run_tool(proxy, by_name, tool_call, tool_results, log)
            messages.append({"role": "tool", "tool_call_id": tool_call.get("id", ""), "content": content})
    log.append(f"Warning: the limit of {rounds} iterations was reached")
    assert reply is not None
    return _fallback_result(reply.content, tool_results, log, False, reply, spent, rounds, bool(tools))


async def _run_tool(
    proxy: McpProxy,
    tools: Mapping[str, McpTool],
    tool_call: Mapping[str, Any],
    results: list[dict[str, Any]],
    log: list[str],
) -> str:
    function = tool_call.get("function") or {}
    name = as_text(function.get("name"))
    tool = tools.get(name)
    log.append(f"  - Tool: {name}")
    if tool is None:
        log.append("    Error: no such tool")
        return f"Error executing tool: there is no tool named {name}"
    arguments = parse_json_text(function.get("arguments") or "{}")
    if not isinstance(arguments, Mapping):
        arguments = {}
    try:
        result = await proxy.execute(tool.server, tool.name, arguments, as_text(tool_call.get("id")))
    except NodeError as exc:
        log.append(f"    Error: {exc}")
        return f"Error executing tool: {exc}"
    text = format_result(result)
    log.append(f"    Result: {text[:100]}")
    results.append({"tool": name, "server": tool.server, "name": tool.name, "arguments": arguments, "result": result})
    return text


def _add_usage(spent: dict[str, int], usage: Mapping[str, Any]) -> None:
    """Add one reply's token counts to the loop's: the node reports what all its rounds spent."""
    for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
        count = usage.get(name)
        if isinstance(count, int) and not isinstance(count, bool):
            spent[name] = spent.get(name, 0) + count


def _fallback_result(
    content: str,
    tool_results: Sequence[dict[str, Any]],
    log: Sequence[str],
    success: bool,
    reply: ChatReply,
    usage: dict[str, int],
    rounds: int,
    mcp_enabled: bool,
) -> dict[str, Any]:
    metadata: dict[str, Any] = {
        "model": reply.model,
        "usage": usage,
        "iterations": rounds,
        "fallback": True,
        "mcpEnabled": mcp_enabled,
    }
    if not success:
        metadata["warning"] = "Max iterations reached"
    return {
        "result": content,
        "toolResults": list(tool_results),
        "executionLog": "\n".join(log),
        "success": success,
        "metadata": metadata,
    }
