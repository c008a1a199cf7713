"""Text nodes: constants and concatenation."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.values import as_text, parse_json_text


class StaticTextNode(NodeType):
    """A fixed text (or, with `textFormat: json`, a fixed JSON value)."""

    type_name = "static-text"
    title = "Static Text"
    outputs = (PortSpec("text", "Text Output", "string", aliases=("output",)),)
    defaults = {"text": "", "textFormat": "plain", "label": "Static Text", "multiline": False}
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        text = call.text_prop("text") or as_text(call.node.data.get("customText") or call.node.data.get("value"))
        if call.prop("textFormat") == "json":
            return {"text": parse_json_text(text)}
        return {"text": text}


class CombineTextNode(NodeType):
    """Two texts joined by `combineMode`: concat, separator, prefix (text2 first) or suffix."""

    type_name = "combine-text"
    title = "Combine Text"
    inputs = (
        PortSpec("text1", "Text 1", "string", aliases=("input1",)),
        PortSpec("text2", "Text 2", "string", aliases=("input2",)),
    )
    outputs = (
        PortSpec("combined", "Combined Text", "string", aliases=("output",)),
        PortSpec("metadata", "Metadata", "object"),
    )
    defaults = {"combineMode": "concat", "separator": "", "addSpaces": True}
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        mode = call.prop("combineMode")
        separator = as_text(call.prop("separator"))
        spaced = bool(call.prop("addSpaces"))
        first = as_text(call.inputs.get("text1"))
        second = as_text(call.inputs.get("text2"))
        settings = {"mode": mode, "separator": separator, "addSpaces": spaced}
        if not first and not second:
            return {"combined": "", "metadata": {"error": "No text inputs provided", **settings}}
        if mode == "separator":
            parts = [first, separator, second]
        elif mode == "prefix":
            parts = [second, first]
        else:
            parts = [first, second]
        combined = (" " if spaced else "").join(parts)
        metadata = {
            **settings,
            "text1Length": len(first),
            "text2Length": len(second),
            "combinedLength": len(combined),
        }
        return {"combined": combined, "metadata": metadata}
