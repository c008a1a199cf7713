"""`FakeAnthropic`: an Anthropic Messages API server on 127.0.0.1 (`POST /v1/messages`).

It checks what the real API checks first (an `anthropic-version` header, `model`, `max_tokens`,
`messages`; with `api_key` set, the key in `x-api-key` or `Authorization: Bearer`) and answers a
`message` object whose text is `reply(body)`; the default is `"echo: <last user text>"`, with
` [N image(s)]` appended when the last user message carried image blocks. Errors use Anthropic's
`{"type": "error", "error": {"type", "message"}}` shape. With `"stream": true` it answers the
Messages API's Server-Sent Events, one `text_delta` per word. Everything of `LoopbackServer` applies.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import LoopbackServer


def echo(body: Mapping[str, Any]) -> str:
    for message in reversed(body.get("messages", [])):
        if message.get("role") != "user":
            continue
        content = message.get("content")
        if isinstance(content, str):
            return f"echo: {content}"
        text = " ".join(block.get("text", "") for block in content if block.get("type") == "text")
        images = sum(1 for block in content if block.get("type") == "image")
        return f"echo: {text}" + (f" [{images} image(s)]" if images else "")
    return "echo:"


class FakeAnthropic(LoopbackServer):
    def __init__(self) -> None:
        super().__init__([Route("/v1/messages", self._messages, methods=["POST"])])
        self.reply: Callable[[dict[str, Any]], str] = echo
        self.api_key: str | None = None

    def messages(self) -> list[dict[str, Any]]:
        return [request.json() for request in self.requests_to("/v1/messages")]

    async def _messages(self, request: Request) -> Response:
        if not request.headers.get("anthropic-version"):
            return _error(400, "invalid_request_error", "anthropic-version header is required")
        if self.api_key is not None:
            given = request.headers.get("x-api-key") or request.headers.get("authorization", "").removeprefix("Bearer ")
            if given != self.api_key:
                return _error(401, "authentication_error", "invalid x-api-key")
        body = await request.json()
        missing = [field for field in ("model", "max_tokens", "messages") if field not in body]
        if missing:
            return _error(400, "invalid_request_error", f"{missing[0]}: Field required")
        if body.get("stream"):
            return StreamingResponse(_events(body["model"], self.reply(body)), media_type="text/event-stream")
        return JSONResponse(
            {
                "id": "msg_fake",
                "type": "message",
                "role": "assistant",
                "model": body["model"],
                "content": [{"type": "text", "text": self.reply(body)}],
                "stop_reason": "end_turn",
                "stop_sequence": None,
                "usage": {"input_tokens": 13, "output_tokens": 5},
            }
        )


async def _events(model: str, text: str) -> AsyncIterator[str]:
    """The Messages API's stream: the message, one text block, one delta per word, then the usage."""

    def event(kind: str, data: dict[str, Any]) -> str:
        return f"event: {kind}\ndata: {json.dumps({'type': kind, **data})}\n\n"

    message: dict[str, Any] = {
        "id": "msg_fake",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
        "usage": {"input_tokens": 13, "output_tokens": 1},
    }
    yield event("message_start", {"message": message})
    yield event("content_block_start", {"index": 0, "content_block": {"type": "text", "text": ""}})
    words = text.split(" ")
    for index, word in enumerate(words):
        piece = word if index == len(words) - 1 else word + " "
        yield event("content_block_delta", {"index": 0, "delta": {"type": "text_delta", "text": piece}})
    yield event("content_block_stop", {"index": 0})
    yield event(
        "message_delta", {"delta": {"stop_reason": "end_turn", "stop_sequence": None}, "usage": {"output_tokens": 5}}
    )
    yield event("message_stop", {})


def _error(status: int, kind: str, message: str) -> Response:
    return JSONResponse({"type": "error", "error": {"type": kind, "message": message}}, status_code=status)
