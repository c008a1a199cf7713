"""A test-only input node type whose API field is a file, as image, PDF and upload nodes declare them.

The real file node types are written elsewhere; the contract machinery must handle any node type
whose `api_schema()` returns `contentEncoding: base64` with a `contentMediaType`, so the tests use
this one, registered in a test registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.model import Node
from clara_runner.flow.nodes import builtin_node_types
from clara_runner.flow.nodes.base import ApiRole, NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.registry import NodeRegistry, build_registry


class FileInputNode(NodeType):
    """Passes the caller's file through; reports the number of base64 characters received."""

    type_name = "test-file-input"
    title = "Test file"
    outputs = (PortSpec("output", "File"), PortSpec("size", "Size", "number"))
    role = ApiRole.INPUT
    inline = True

    def api_schema(self, node: Node) -> dict[str, Any]:
        media_type = node.data.get("mediaType", "application/octet-stream")
        return {
            "type": "string",
            "contentEncoding": "base64",
            "contentMediaType": media_type,
            "description": f"A {media_type} file as base64 text or a data: URL",
        }

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = call.external if isinstance(call.external, str) else ""
        return {"output": value, "size": len(value)}


def registry_with_file_nodes() -> NodeRegistry:
    return build_registry([*builtin_node_types(), (FileInputNode(), ())])


def file_flow(*media_types: str) -> dict[str, Any]:
    """One file input per media type, each wired to an output that returns its size."""
    nodes: list[dict[str, Any]] = []
    connections: list[dict[str, Any]] = []
    for index, media_type in enumerate(media_types, start=1):
        nodes.append(
            {
                "id": f"file-{index}",
                "type": "test-file-input",
                "data": {"label": f"Document {index}", "mediaType": media_type},
            }
        )
        nodes.append({"id": f"size-{index}", "type": "output", "data": {"outputLabel": f"Size {index}"}})
        connections.append(
            {"source": f"file-{index}", "sourceHandle": "size", "target": f"size-{index}", "targetHandle": "input"}
        )
    return {"nodes": nodes, "connections": connections}
