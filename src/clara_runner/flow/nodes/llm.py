"""The `llm` node (and the server's `llm-chat` alias): one chat completion.

Studio's behaviour is the target: messages are the system prompt, the `memory` history, the
`context` as a second system message (`Context: ...`), then the user message, with an `image` as a
vision part; `temperature: 0` and `maxTokens` are sent as given. The server engine's port aliases
(`input`, `message` for `user`; `output` for `response`) and its `systemMessage` property still work.
A `data.prompt` template (`"... {{topic}} ..."`) becomes the user message, its variables being
input ports of their own.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.events import NodeMessage
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.chat import ChatRequest, TokenSink, chat
from clara_runner.flow.nodes.endpoints import Endpoint, llm_endpoint
from clara_runner.flow.nodes.templates import fill, template_ports
from clara_runner.flow.nodes.values import as_text, parse_json_text, to_number
from clara_runner.flow.nodes.vision import image_data_url

LLM_DEFAULTS: Mapping[str, Any] = {
    "apiBaseUrl": "",
    "apiKey": "",
    "provider": "",
    "model": "gpt-3.5-turbo",
    "temperature": 0.7,
    "maxTokens": 1000,
    "timeout": 120_000,
    "maxRetries": 2,
    "stream": False,
}
_ROLES = frozenset({"system", "user", "assistant", "tool"})


@dataclass(frozen=True, slots=True)
class LlmSettings:
    """The connection and sampling properties every LLM-calling node shares."""

    endpoint: Endpoint
    model: str
    temperature: float
    temperature_chosen: bool
    max_tokens: int
    timeout: float
    max_retries: int

    @classmethod
    def of(cls, call: NodeCall, model: str | None = None) -> LlmSettings:
        endpoint = llm_endpoint(
            call,
            provider=call.text_prop("provider"),
            base_url=call.text_prop("apiBaseUrl"),
            api_key=call.text_prop("apiKey"),
        )
        return cls(
            endpoint=endpoint,
            model=model or call.text_prop("model"),
            temperature=float(to_number(call.prop("temperature"))),
            temperature_chosen=call.node.data.get("temperature") is not None,
            max_tokens=max(1, int(to_number(call.prop("maxTokens")))),
            timeout=max(0.001, to_number(call.prop("timeout")) / 1000),
            max_retries=max(0, int(to_number(call.prop("maxRetries")))),
        )

    def request(self, messages: Sequence[Mapping[str, Any]], **extra: Any) -> ChatRequest:
        return ChatRequest(
            model=self.model,
            messages=messages,
            temperature=self.temperature,
            temperature_chosen=self.temperature_chosen,
            max_tokens=self.max_tokens,
            timeout=self.timeout,
            max_retries=self.max_retries,
            **extra,
        )


def token_sink(call: NodeCall) -> TokenSink | None:
    """With `stream: true`, or in a run someone follows, each streamed piece of text becomes a `token` event."""
    if call.prop("stream") is not True and not call.context.stream_tokens:
        return None
    node_id, emit = call.node.id, call.context.events
    return lambda text: emit(NodeMessage(node_id, "token", text))


class LlmNode(NodeType):
    type_name = "llm"
    title = "LLM Chat"
    description = "One chat completion (OpenAI-compatible, or Anthropic) with optional context, memory and image."
    inputs = (
        PortSpec("system", "System Message", "string"),
        PortSpec("user", "User Message", "string", aliases=("input", "message")),
        PortSpec("context", "Pre-context", "string"),
        PortSpec("memory", "Memory", "array"),
        PortSpec("image", "Image", "string"),
    )
    outputs = (
        PortSpec("response", "Response", "string", aliases=("output",)),
        PortSpec("usage", "Usage", "object"),
    )
    usage_path = ("usage",)
    defaults = LLM_DEFAULTS

    def input_ports(self, node: Node) -> Sequence[PortSpec]:
        return template_ports(node, ("prompt",), self.inputs)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        settings = LlmSettings.of(call)
        reply = await chat(settings.endpoint, settings.request(build_messages(call)), token_sink(call))
        if not reply.content:
            raise NodeError(f"the model '{reply.model}' returned no content")
        return {"response": reply.content, "usage": reply.usage}


def build_messages(call: NodeCall) -> list[dict[str, Any]]:
    """Studio's message list: system, memory, `Context: ...`, then the user message (with the image)."""
    user = user_message(call)
    if not user:
        raise NodeError("a user message is required: connect a value to the node's user port")
    messages: list[dict[str, Any]] = []
    system = as_text(call.inputs.get("system")) or call.text_prop("systemMessage") or call.text_prop("systemPrompt")
    if system:
        messages.append({"role": "system", "content": system})
    messages.extend(_memory(call.inputs.get("memory")))
    context = as_text(call.inputs.get("context"))
    if context:
        messages.append({"role": "system", "content": f"Context: {context}"})
    image = image_data_url(call.inputs.get("image"))
    if image is None:
        messages.append({"role": "user", "content": user})
    else:
        parts = [{"type": "text", "text": user}, {"type": "image_url", "image_url": {"url": image}}]
        messages.append({"role": "user", "content": parts})
    return messages


def user_message(call: NodeCall) -> str:
    """The filled `data.prompt` template when the node has one, else the `user` input."""
    prompt = call.node.data.get("prompt")
    if isinstance(prompt, str) and prompt:
        return fill(prompt, call.inputs)
    return as_text(call.inputs.get("user"))


def _memory(value: Any) -> list[dict[str, Any]]:
    history = parse_json_text(value)
    if not isinstance(history, list):
        return []
    messages = []
    for index, item in enumerate(history):
        if not isinstance(item, Mapping) or item.get("role") not in _ROLES or "content" not in item:
            raise NodeError(
                f"memory[{index}] must be a message object with a role (system, user, assistant) and content"
            )
        messages.append(dict(item))
    return messages
