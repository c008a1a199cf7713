"""The `structured-llm` node: a chat completion whose answer is a JSON object.

Studio derives a strict JSON Schema from the `jsonExample` input and asks for
`response_format: json_schema`. Not every OpenAI-compatible server knows that format, so on an
HTTP 400 the node asks again with `json_object`, and after a second 400 with no response format at
all, reading the JSON out of the text (code fences stripped). A hand-written flow may give a JSON
Schema in `data.outputSchema` instead of an example, and the server engine's `user`/`input`
ports still carry the prompt.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.chat import ChatReply, ProviderError, chat
from clara_runner.flow.nodes.llm import LLM_DEFAULTS, LlmSettings, token_sink
from clara_runner.flow.nodes.templates import fill, template_ports
from clara_runner.flow.nodes.values import as_text, parse_json_text

_SYSTEM = (
    "You are a helpful assistant that generates structured JSON data based on user prompts and examples. "
    "You must respond with valid JSON that matches the provided structure exactly."
)
_FENCE = re.compile(r"^\s*```[\w-]*\s*\n?(?P<body>.*?)\n?\s*```\s*$", re.DOTALL)


def schema_from_example(example: Any) -> dict[str, Any]:
    """Studio's `generateSchemaFromExample`: a strict schema, every property required, no others allowed."""
    if example is None:
        return {"type": "null"}
    if isinstance(example, list):
        return {"type": "array", "items": schema_from_example(example[0]) if example else {}}
    if isinstance(example, Mapping):
        return {
            "type": "object",
            "properties": {key: schema_from_example(value) for key, value in example.items()},
            "required": list(example),
            "additionalProperties": False,
        }
    if isinstance(example, bool):
        return {"type": "boolean"}
    if isinstance(example, int):
        return {"type": "integer"}
    if isinstance(example, float):
        return {"type": "integer"} if example.is_integer() else {"type": "number"}
    return {"type": "string"}


def parse_json_reply(text: str) -> Any:
    """The JSON value in a model's reply, with a surrounding code fence removed; raises ValueError."""
    match = _FENCE.match(text)
    return json.loads(match.group("body") if match else text)


class StructuredLlmNode(NodeType):
    type_name = "structured-llm"
    title = "Structured LLM"
    description = "A chat completion constrained to JSON, shaped by an example or a JSON Schema."
    inputs = (
        PortSpec("prompt", "Prompt", "string", aliases=("user", "input", "message")),
        PortSpec("jsonExample", "JSON Example", "string"),
        PortSpec("context", "Context", "string"),
    )
    outputs = (
        PortSpec("jsonOutput", "JSON Output", "object", aliases=("output",)),
        PortSpec("rawResponse", "Raw Response", "string", aliases=("raw",)),
        PortSpec("usage", "Usage", "object"),
    )
    usage_path = ("usage",)
    defaults = {**LLM_DEFAULTS, "model": "gpt-4o-mini"}

    def input_ports(self, node: Node) -> Sequence[PortSpec]:
        return template_ports(node, ("prompt",), self.inputs)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        prompt = _prompt(call)
        if not prompt:
            raise NodeError("a prompt is required: connect a value to the node's prompt port")
        shape, schema, strict = _target(call)
        system = _SYSTEM
        context = as_text(call.inputs.get("context"))
        if context:
            system += f"\n\nAdditional context: {context}"
        instruction = (
            f"{prompt}\n\nPlease generate JSON data that follows this exact structure:\n{shape}\n\n"
            "Respond only with valid JSON that matches this structure."
            if shape
            else f"{prompt}\n\nRespond only with a valid JSON object."
        )
        messages = [{"role": "system", "content": system}, {"role": "user", "content": instruction}]
        reply = await _complete(call, messages, schema, strict)
        if not reply.content:
            raise NodeError(f"the model '{reply.model}' returned no content")
        try:
            parsed = parse_json_reply(reply.content)
        except ValueError as exc:
            raise NodeError(f"the model returned invalid JSON: {reply.content[:500]}") from exc
        return {"jsonOutput": parsed, "rawResponse": reply.content, "usage": reply.usage}


def _prompt(call: NodeCall) -> str:
    template = call.node.data.get("prompt")
    if isinstance(template, str) and template:
        return fill(template, call.inputs)
    return as_text(call.inputs.get("prompt"))


def _target(call: NodeCall) -> tuple[str, dict[str, Any] | None, bool]:
    """(the structure shown to the model, the JSON Schema to enforce, whether it is strict)."""
    example = call.inputs.get("jsonExample")
    if example is None or example == "":
        example = call.node.data.get("jsonExample")
    if example is not None and example != "":
        parsed = parse_json_text(example)
        if isinstance(example, str) and parsed is example:
            raise NodeError('jsonExample is not valid JSON; give an example object such as {"name": ""}')
        shown = example if isinstance(example, str) else json.dumps(example, indent=2)
        return shown, schema_from_example(parsed), True
    schema = call.node.data.get("outputSchema")
    if isinstance(schema, Mapping):
        return f"a JSON value valid against this JSON Schema:\n{json.dumps(schema, indent=2)}", dict(schema), False
    return "", None, False


_SCHEMA_DESCRIPTION = "Generated structured data based on the provided example"
"""Agent Studio's own wording: a model prompted by Studio and by the runner gets the same request."""


async def _complete(
    call: NodeCall, messages: list[dict[str, Any]], schema: dict[str, Any] | None, strict: bool
) -> ChatReply:
    """json_schema, then json_object, then plain text: each step only after an HTTP 400 from the last."""
    settings = LlmSettings.of(call)
    formats: list[dict[str, Any] | None] = [{"type": "json_object"}, None]
    if schema is not None:
        described = {
            "name": "structured_output",
            "description": _SCHEMA_DESCRIPTION,
            "schema": schema,
            "strict": strict,
        }
        formats.insert(0, {"type": "json_schema", "json_schema": described})
    sink = token_sink(call)
    for response_format in formats[:-1]:
        try:
            return await chat(settings.endpoint, settings.request(messages, response_format=response_format), sink)
        except ProviderError as exc:
            if exc.status != 400:
                raise
    return await chat(settings.endpoint, settings.request(messages), sink)
