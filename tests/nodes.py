"""Node types that exist only in tests: they exercise the mechanisms (HTTP through the run context,
deadlines, large outputs, failing with a message, logging) that real node types rely on."""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from typing import Any

import structlog

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.registry import NodeRegistry

log = structlog.get_logger("tests.nodes")


class FetchNode(NodeType):
    """GET `data.url` through the workflow HTTP client (the one the egress policy guards)."""

    type_name = "test-fetch"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Body", "string"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        assert call.context.http is not None
        response = await call.context.http.workflow.get(call.text_prop("url"))
        return {"output": response.text}


class EmitNode(NodeType):
    """Outputs `data.value`, or its input repeated `data.repeat` times when `repeat` is set."""

    type_name = "test-emit"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Value"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        repeat = call.prop("repeat")
        if repeat is not None:
            return {"output": str(call.inputs.get("input", "")) * int(repeat)}
        return {"output": call.prop("value")}


class FailNode(NodeType):
    """Fails with `data.message` followed by its input (an upstream error that echoes what it got)."""

    type_name = "test-fail"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Never"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        raise NodeError(f"{call.text_prop('message')} {call.inputs.get('input', '')}".strip())


class LogNode(NodeType):
    """Logs its input and `data` (what a careless node might do), then passes the input on."""

    type_name = "test-log"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Value"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = call.inputs.get("input")
        log.warning("test_node_saw", value=value, data=dict(call.node.data), note=f"got {value}")
        return {"output": value}


def registry_with_test_nodes() -> NodeRegistry:
    registry = default_registry()
    for node_type in (FetchNode(), EmitNode(), FailNode(), LogNode()):
        registry.register(node_type)
    return registry


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """A workflow: an input node named `text`, then `nodes` in a line, then an output named `result`."""
    all_nodes = [
        {"id": "in", "type": "input", "data": {"label": "Text", "value": "x"}},
        *nodes,
        {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
    ]
    connections = [
        {"source": first["id"], "target": second["id"], "sourceHandle": "output", "targetHandle": "input"}
        for first, second in itertools.pairwise(all_nodes)
    ]
    return {"nodes": all_nodes, "connections": connections}
