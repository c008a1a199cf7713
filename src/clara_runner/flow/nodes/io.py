"""The nodes that become the API: `input` fields in the request and `output` fields in the response."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import MISSING, ApiRole, NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.values import as_text, parse_json_text, to_number


def json_value_schema(description: str) -> dict[str, Any]:
    """An object or an array, as `anyOf` branches rather than `"type": ["object", "array"]`: client
    generators (openapi-python-client, openapi-generator, openapi-typescript) cannot turn a type list
    without `items` into a usable type, and the branches accept exactly the same values. The object
    branch says `additionalProperties: true` (the default) aloud, since openapi-typescript types a bare
    `{"type": "object"}` as an object with no keys (`Record<string, never>`)."""
    return {
        "anyOf": [{"type": "object", "additionalProperties": True}, {"type": "array", "items": {}}],
        "description": description,
    }


class InputNode(NodeType):
    """A value supplied by the API caller, or the node's saved `value` when the caller sends none."""

    type_name = "input"
    title = "Input"
    outputs = (PortSpec("output", "Value"),)
    defaults = {"inputType": "text", "value": "", "label": "Input"}
    role = ApiRole.INPUT
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = call.external if call.external is not MISSING else call.prop("value")
        return {"output": _convert(call.prop("inputType"), value)}

    def api_schema(self, node: Node) -> dict[str, Any]:
        input_type = node.data.get("inputType")
        if input_type == "number":
            return {"type": "number", "description": "Number input"}
        if input_type == "json":
            return json_value_schema(
                "JSON input: an object or an array, or a string holding one (JSON text as typed in Agent Studio),"
                " which is parsed"
            )
        return {"type": "string", "description": "Text input"}

    def api_default(self, node: Node) -> Any:
        value = node.data.get("value")
        if value is None or value == "" or node.data.get("required") is True:
            return MISSING
        return _convert(node.data.get("inputType"), value)


def _convert(input_type: Any, value: Any) -> Any:
    if input_type == "number":
        return to_number(value)
    if input_type == "json":
        return parse_json_text(value)
    return value


class OutputNode(NodeType):
    """A value returned to the API caller under the node's field name, shaped by `format`."""

    type_name = "output"
    title = "Output"
    inputs = (PortSpec("input", "Value"),)
    defaults = {"outputLabel": "Result", "format": "auto"}
    role = ApiRole.OUTPUT
    inline = True

    def api_schema(self, node: Node) -> dict[str, Any]:
        output_format = node.data.get("format")
        if output_format == "json":
            return json_value_schema("JSON output (an object or an array)")
        if output_format == "text":
            return {"type": "string", "description": "Text output"}
        return {}

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        if "input" not in call.inputs:
            return {}
        value = call.inputs["input"]
        output_format = call.prop("format")
        if output_format == "json":
            value = parse_json_text(value)
        elif output_format == "text":
            value = as_text(value)
        return {"output": value}
