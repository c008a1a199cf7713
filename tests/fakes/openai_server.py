"""`FakeOpenAI`: an OpenAI-compatible server on 127.0.0.1 that speaks the real wire protocol.

Endpoints (under `base_url` = `url + "/v1"`):
* `POST /v1/chat/completions`: a `chat.completion` object, or with `"stream": true` Server-Sent
  Events (`data: {chat.completion.chunk}` lines, a usage chunk when `stream_options.include_usage`,
  then `data: [DONE]`);
* `GET /v1/models`: the model list.

What it answers is set by attributes:
* `reply(body) -> str | dict`: the assistant message for a request body; a dict may carry
  `content` and `tool_calls` (OpenAI form). The default answers `"echo: <last user text>"`, or,
  when the request asks for `response_format: json_schema`, a JSON instance of that schema, or
  for `json_object`, `json.dumps(self.json_reply)`;
* `accepts_json_schema` / `accepts_json_object`: when False, a request with that response format
  gets HTTP 400 `invalid_request_error`, as servers without structured outputs answer;
* `token_delay`: seconds between streamed chunks;
* `api_key`: when set, requests without `Authorization: Bearer <api_key>` get HTTP 401;
* plus everything of `LoopbackServer` (recorded `requests`, `delay`, `fail_next`, `drop_next`).

`python -m tests.fakes.openai_server --port 8091 --delay 0.1 [--token-delay 0.01]` serves one in its own process.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any

import uvicorn
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from tests.fakes.server import LoopbackServer

Reply = Callable[[dict[str, Any]], "str | dict[str, Any]"]


def last_user_text(body: Mapping[str, Any]) -> str:
    """The text of the last user message (text parts joined when the content is a list)."""
    for message in reversed(body.get("messages", [])):
        if message.get("role") == "user":
            content = message.get("content")
            if isinstance(content, list):
                return " ".join(part.get("text", "") for part in content if part.get("type") == "text")
            return str(content)
    return ""


def instance_of(schema: Mapping[str, Any]) -> Any:
    """A deterministic value valid against a simple JSON Schema (objects, arrays, scalars)."""
    kind = schema.get("type")
    if kind == "object":
        return {key: instance_of(sub) for key, sub in schema.get("properties", {}).items()}
    if kind == "array":
        return [instance_of(schema.get("items", {}))]
    if kind == "integer":
        return 1
    if kind == "number":
        return schema.get("minimum", 0.5) if "maximum" not in schema else schema["maximum"] / 2
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    return "example"


class FakeOpenAI(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(
            [
                Route("/v1/chat/completions", self._completions, methods=["POST"]),
                Route("/v1/models", self._models, methods=["GET"]),
            ]
        )
        self.reply: Reply = self.default_reply
        self.accepts_json_schema = True
        self.accepts_json_object = True
        self.json_reply: Any = {"answer": "fake"}
        self.api_key: str | None = None
        self.model = "fake-model"
        self.token_delay = 0.0
        """Seconds between two streamed chunks (a model that writes as it thinks)."""
        self.stream_error: str | None = None
        """When set, a streamed answer stops after its first word with an `error` event carrying this message."""

    @property
    def base_url(self) -> str:
        return f"{self.url}/v1"

    def completions(self) -> list[dict[str, Any]]:
        """The bodies of every chat completion request, in order."""
        return [request.json() for request in self.requests_to("/v1/chat/completions")]

    def default_reply(self, body: dict[str, Any]) -> str | dict[str, Any]:
        response_format = body.get("response_format") or {}
        if response_format.get("type") == "json_schema":
            return json.dumps(instance_of(response_format["json_schema"]["schema"]))
        if response_format.get("type") == "json_object":
            return json.dumps(self.json_reply)
        return f"echo: {last_user_text(body)}"

    async def _models(self, request: Request) -> Response:
        del request
        return JSONResponse(
            {"object": "list", "data": [{"id": self.model, "object": "model", "created": 0, "owned_by": "fake"}]}
        )

    async def _completions(self, request: Request) -> Response:
        if self.api_key is not None and request.headers.get("authorization") != f"Bearer {self.api_key}":
            return _error(401, "Incorrect API key provided", "invalid_api_key")
        body = await request.json()
        format_type = (body.get("response_format") or {}).get("type")
        if (format_type == "json_schema" and not self.accepts_json_schema) or (
            format_type == "json_object" and not self.accepts_json_object
        ):
            return _error(400, f"response_format {format_type} is not supported by this model", None)
        answer = self.reply(body)
        message: dict[str, Any] = {"role": "assistant", "content": answer} if isinstance(answer, str) else dict(answer)
        message.setdefault("role", "assistant")
        message.setdefault("content", None)
        usage = {"prompt_tokens": 11, "completion_tokens": 7, "total_tokens": 18}
        model = body.get("model") or self.model
        if body.get("stream"):
            include_usage = bool((body.get("stream_options") or {}).get("include_usage"))
            return StreamingResponse(
                _chunks(
                    model,
                    message.get("content") or "",
                    usage if include_usage else None,
                    self.token_delay,
                    self.stream_error,
                ),
                media_type="text/event-stream",
            )
        finish = "tool_calls" if message.get("tool_calls") else "stop"
        return JSONResponse(
            {
                "id": "chatcmpl-fake",
                "object": "chat.completion",
                "created": int(time.time()),
                "model": model,
                "choices": [{"index": 0, "message": message, "finish_reason": finish, "logprobs": None}],
                "usage": usage,
            }
        )


def _error(status: int, message: str, code: str | None) -> Response:
    return JSONResponse(
        {"error": {"message": message, "type": "invalid_request_error", "param": None, "code": code}},
        status_code=status,
    )


async def _chunks(
    model: str, content: str, usage: dict[str, int] | None, token_delay: float = 0.0, error: str | None = None
) -> AsyncIterator[str]:
    def event(delta: dict[str, Any], finish: str | None, extra: dict[str, Any] | None = None) -> str:
        chunk: dict[str, Any] = {
            "id": "chatcmpl-fake",
            "object": "chat.completion.chunk",
            "created": int(time.time()),
            "model": model,
            "choices": [{"index": 0, "delta": delta, "finish_reason": finish}] if extra is None else [],
            **(extra or {}),
        }
        return f"data: {json.dumps(chunk)}\n\n"

    yield event({"role": "assistant", "content": ""}, None)
    words = content.split(" ")
    for index, word in enumerate(words):
        if token_delay:
            await asyncio.sleep(token_delay)
        yield event({"content": word if index == len(words) - 1 else word + " "}, None)
        if error is not None:
            yield f"data: {json.dumps({'error': {'message': error, 'type': 'server_error'}})}\n\n"
            return
    yield event({}, "stop")
    if usage is not None:
        yield event({}, None, {"usage": usage})
    yield "data: [DONE]\n\n"


def main() -> None:
    parser = argparse.ArgumentParser(description="Serve a fake OpenAI-compatible API (echo replies).")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--delay", type=float, default=0.0, help="seconds to wait before each answer")
    parser.add_argument("--token-delay", type=float, default=0.0, help="seconds between two streamed chunks")
    arguments = parser.parse_args()
    server = FakeOpenAI()
    server.delay = arguments.delay
    server.token_delay = arguments.token_delay
    uvicorn.run(server, host="127.0.0.1", port=arguments.port, log_level="warning", backlog=2048)


if __name__ == "__main__":
    main()
