"""Run one node type directly, the way the runner would call it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.context import RunContext
from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import MISSING, NodeCall, NodeType


async def call_node(
    node_type: NodeType, data: Mapping[str, Any] | None = None, external: Any = MISSING, **inputs: Any
) -> Mapping[str, Any]:
    node = Node("n", node_type.type_name, "", dict(data or {}))
    return await node_type.run(NodeCall(node, node_type, dict(inputs), RunContext(), external))
