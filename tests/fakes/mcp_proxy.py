"""`FakeMcpProxy`: the Clara MCP proxy's HTTP API on 127.0.0.1.

* `GET /api/servers` -> `{"servers": [{name, isRunning, status}, ...]}` from `servers`;
* `POST /api/tools/execute` with `{name, arguments, server, callId}`:
  * `name == "tools/list"` -> `{"result": {"success": true, "content": [{"type": "json", "data": tools}]}}`
    with the tool definitions (`{name, description, inputSchema}`) listed in `tools[server]`;
  * otherwise the function `handlers[(server, name)](arguments)` is called and its text returned as
    `{"result": {"success": true, "content": [{"type": "text", "text": ...}]}}`; an unknown tool
    gives `{"result": {"success": false, "error": ...}}`.

`with_search_tool()` builds the usual setup: a running `python-mcp` server with a `search` tool
that answers `"results for <query>"`. Everything of `LoopbackServer` applies.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer

ToolHandler = Callable[[dict[str, Any]], str]

SEARCH_TOOL = {
    "name": "search",
    "description": "Search the web",
    "inputSchema": {
        "$schema": "http://json-schema.org/draft-07/schema#",
        "type": "object",
        "properties": {"query": {"type": "string"}},
        "required": ["query"],
    },
}


class FakeMcpProxy(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(
            [
                Route("/api/servers", self._servers, methods=["GET"]),
                Route("/api/tools/execute", self._execute, methods=["POST"]),
            ]
        )
        self.servers: list[dict[str, Any]] = []
        self.tools: dict[str, list[dict[str, Any]]] = {}
        self.handlers: dict[tuple[str, str], ToolHandler] = {}

    @classmethod
    def with_search_tool(cls) -> FakeMcpProxy:
        proxy = cls()
        proxy.servers = [
            {"name": "python-mcp", "isRunning": True, "status": "running"},
            {"name": "stopped-mcp", "isRunning": False, "status": "stopped"},
        ]
        proxy.tools = {"python-mcp": [SEARCH_TOOL], "stopped-mcp": [SEARCH_TOOL]}
        proxy.handlers = {("python-mcp", "search"): lambda arguments: f"results for {arguments.get('query')}"}
        return proxy

    def executions(self) -> list[dict[str, Any]]:
        return [request.json() for request in self.requests_to("/api/tools/execute")]

    async def _servers(self, request: Request) -> Response:
        del request
        return JSONResponse({"servers": self.servers})

    async def _execute(self, request: Request) -> Response:
        body = await request.json()
        server, name = body.get("server"), body.get("name")
        if name == "tools/list":
            content = [{"type": "json", "data": self.tools.get(server, [])}]
            return JSONResponse({"result": {"success": True, "content": content}})
        handler = self.handlers.get((server, name))
        if handler is None:
            return JSONResponse({"result": {"success": False, "error": f"unknown tool {server}/{name}"}})
        text = handler(body.get("arguments") or {})
        return JSONResponse({"result": {"success": True, "content": [{"type": "text", "text": text}]}})
