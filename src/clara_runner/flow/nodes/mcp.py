"""The Clara MCP proxy, as the agent fallback uses it.

The proxy (`MCP_PROXY_URL`) lists MCP servers at `GET /api/servers` and runs a tool at
`POST /api/tools/execute` with `{name, arguments, server, callId}`; the pseudo-tool `tools/list`
returns a server's tools as JSON content. Tools are offered to the model as OpenAI functions named
`mcp_<server>_<tool>` (reduced to the characters and length OpenAI allows).
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.base import NodeCall
from clara_runner.flow.nodes.remote import json_body, send

_SERVICE = "the MCP proxy"
_FUNCTION_NAME = re.compile(r"[^A-Za-z0-9_-]")
_MAX_NAME = 64


@dataclass(frozen=True, slots=True)
class McpTool:
    server: str
    name: str
    description: str
    input_schema: Mapping[str, Any]
    function_name: str

    def as_openai_tool(self) -> dict[str, Any]:
        return {
            "type": "function",
            "function": {
                "name": self.function_name,
                "description": f"[MCP:{self.server}] {self.description or self.name}",
                "parameters": _parameters(self.input_schema),
            },
        }


class McpProxy:
    """The operator's MCP proxy (`MCP_PROXY_URL`), reached for one node call."""

    def __init__(self, call: NodeCall) -> None:
        self._call = call
        self._base_url = call.context.services.mcp_proxy_url.rstrip("/")

    async def discover(self, enabled: Sequence[str], log: list[str]) -> list[McpTool]:
        """The tools of the enabled servers that are running; problems are logged, never raised."""
        if not enabled:
            return []
        try:
            response = await send(self._call, _SERVICE, "GET", f"{self._base_url}/api/servers")
            listing = json_body(response, _SERVICE)
        except NodeError as exc:
            log.append(f"MCP proxy unavailable: {exc}")
            return []
        servers = listing.get("servers", []) if isinstance(listing, Mapping) else listing
        running = [
            server["name"]
            for server in (servers if isinstance(servers, list) else [])
            if isinstance(server, Mapping)
            and server.get("name") in enabled
            and server.get("isRunning")
            and server.get("status") == "running"
        ]
        log.append(f"MCP servers running: {', '.join(running) or 'none'}")
        tools: list[McpTool] = []
        taken: set[str] = set()
        for server in running:
            try:
                result = await self.execute(server, "tools/list", {}, f"discover_{server}")
            except NodeError as exc:
                log.append(f"could not list the tools of {server}: {exc}")
                continue
            for item in _tool_list(result):
                function_name = _function_name(server, item["name"], taken)
                taken.add(function_name)
                description = item.get("description")
                tools.append(
                    McpTool(
                        server=server,
                        name=item["name"],
                        description=description if isinstance(description, str) else "",
                        input_schema=item.get("inputSchema") or {},
                        function_name=function_name,
                    )
                )
        log.append(f"{len(tools)} MCP tools available")
        return tools

    async def execute(self, server: str, name: str, arguments: Mapping[str, Any], call_id: str) -> Any:
        body = {"name": name, "arguments": dict(arguments), "server": server, "callId": call_id}
        service = f"the MCP tool {server}/{name}"
        response = await send(self._call, service, "POST", f"{self._base_url}/api/tools/execute", json=body)
        payload = json_body(response, service)
        if isinstance(payload, Mapping) and "result" in payload:
            return payload["result"]
        return payload


def format_result(result: Any) -> str:
    """A tool result as text for the model: its text parts, else its JSON parts, else the whole as JSON."""
    if result is None:
        return "No result"
    if isinstance(result, Mapping):
        if result.get("success") is False:
            return f"Error: {result.get('error') or 'Tool execution failed'}"
        content = result.get("content")
        if isinstance(content, list):
            parts = [c for c in content if isinstance(c, Mapping)]
            texts = [str(c["text"]) for c in parts if c.get("type") == "text" and c.get("text")]
            if texts:
                return "\n\n".join(texts)
            data = [c["data"] for c in parts if c.get("type") == "json" and c.get("data") is not None]
            if data:
                return "\n\n".join(d if isinstance(d, str) else json.dumps(d, indent=2) for d in data)
    return json.dumps(result, indent=2, default=str)


def _tool_list(result: Any) -> list[Mapping[str, Any]]:
    content = result.get("content") if isinstance(result, Mapping) else None
    if not isinstance(content, list):
        return []
    for part in content:
        if not isinstance(part, Mapping):
            continue
        raw = part.get("data") if part.get("type") == "json" else part.get("text")
        try:
            listed = json.loads(raw) if isinstance(raw, str) else raw
        except ValueError:
            continue
        if isinstance(listed, Mapping):
            listed = listed.get("tools")
        if isinstance(listed, list):
            return [t for t in listed if isinstance(t, Mapping) and isinstance(t.get("name"), str) and t["name"]]
    return []


def _function_name(server: str, tool: str, taken: set[str]) -> str:
    base = _FUNCTION_NAME.sub("_", f"mcp_{server}_{tool}")[:_MAX_NAME]
    name, counter = base, 2
    while name in taken:
        suffix = f"_{counter}"
        name, counter = base[: _MAX_NAME - len(suffix)] + suffix, counter + 1
    return name


def _parameters(schema: Mapping[str, Any]) -> dict[str, Any]:
    """The tool's input schema as OpenAI function parameters: an object schema, `$schema` dropped."""
    parameters = {key: value for key, value in schema.items() if key != "$schema"}
    parameters.setdefault("type", "object")
    parameters.setdefault("properties", {})
    return parameters
