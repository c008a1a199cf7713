"""`FakeClaraAssistant`: the Clara Assistant's `POST /api/execute-agent` on 127.0.0.1.

It answers `answer(body)`; the default returns `{"output": "assistant did: <instructions>",
"toolResults": [...], "log": "...", "success": true, "metadata": {"provider": <config.provider>}}`.
Use `fail_next(503)` (from `LoopbackServer`) to make agent nodes take their fallback path.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from tests.fakes.server import LoopbackServer


def default_answer(body: dict[str, Any]) -> dict[str, Any]:
    return {
        "output": f"assistant did: {body.get('instructions')}",
        "toolResults": [{"tool": "search", "result": "found"}],
        "log": "planned; searched; answered",
        "success": True,
        "metadata": {"provider": (body.get("config") or {}).get("provider")},
    }


class FakeClaraAssistant(LoopbackServer):
    def __init__(self) -> None:
        super().__init__([Route("/api/execute-agent", self._execute, methods=["POST"])])
        self.answer: Callable[[dict[str, Any]], dict[str, Any]] = default_answer

    def executions(self) -> list[dict[str, Any]]:
        return [request.json() for request in self.requests_to("/api/execute-agent")]

    async def _execute(self, request: Request) -> Response:
        return JSONResponse(self.answer(await request.json()))
