"""JSON nodes: parse (with field extraction) and stringify."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.base import MISSING, NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.values import as_text


class JsonParseNode(NodeType):
    """Text parsed as JSON, optionally narrowed to `extractField` (a dot path such as `data.items.0`)."""

    type_name = "json-parse"
    title = "JSON Parser"
    inputs = (PortSpec("input", "JSON Data", aliases=("json",)),)
    outputs = (PortSpec("output", "Parsed Data"),)
    defaults = {"extractField": "", "failOnError": False}
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        raw = call.inputs.get("input", "")
        if isinstance(raw, dict | list):
            parsed: Any = raw
        else:
            try:
                parsed = json.loads(as_text(raw))
            except ValueError as exc:
                if call.prop("failOnError"):
                    raise NodeError(f"JSON Parse Error: {exc}") from exc
                return {"output": None}
        path = call.text_prop("extractField") or as_text(call.node.data.get("field") or call.node.data.get("path"))
        return {"output": _extract(parsed, path) if path else parsed}


def _extract(value: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(value, dict) and part in value:
            value = value[part]
        elif isinstance(value, list) and part.isdigit() and int(part) < len(value):
            value = value[int(part)]
        else:
            return None
    return value


class JsonStringifyNode(NodeType):
    """A value as JSON text; strings pass through unchanged, null becomes `nullFallback`."""

    type_name = "json-stringify"
    title = "JSON Stringify"
    inputs = (PortSpec("input", "Value", aliases=("json",)),)
    outputs = (PortSpec("output", "JSON Text", "string"),)
    defaults = {"prettyPrint": True, "indent": 2, "nullFallback": ""}
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = call.inputs.get("input", MISSING)
        if value is MISSING or value is None:
            return {"output": as_text(call.prop("nullFallback"))}
        if isinstance(value, str):
            return {"output": value}
        indent = _indent(call.prop("indent")) if call.prop("prettyPrint") else 0
        if indent:
            return {"output": json.dumps(value, ensure_ascii=False, indent=indent)}
        return {"output": json.dumps(value, ensure_ascii=False, separators=(",", ":"))}


def _indent(value: Any) -> int:
    try:
        return min(max(int(value), 0), 8)
    except (TypeError, ValueError):
        return 2
