"""Custom nodes: node types shipped inside a workflow, whose JavaScript runs in the sandbox.

The contract is Agent Studio's (`CustomNodeManager`): the code defines
`async function execute(inputs, properties, context)`;
* `inputs` are keyed by the lower-cased port name with runs of whitespace as `_` ("First Text" ->
  `first_text`), and also by port id, so code written for either style works;
* `properties` are keyed the same way by property name, with the definition's defaults, read from the
  node's `data.properties` (keyed by property id as Studio saves them, or by name); the raw saved values
  stay available under their own keys, as Studio's runtime passes them;
* `context` offers `log`, `warn`, `error` (reported as node messages) and `fetch`;
* the returned object is mapped back to output ports by normalised name, then id, then name. A port
  the result does not mention carries `null`. A non-object result goes to the only output port.
A thrown error fails the node with its message.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.events import NodeMessage
from clara_runner.flow.model import CustomNodeDef, Node, Port
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.sandbox import JsSandbox, SandboxError, ScriptResult
from clara_runner.flow.sandbox_fetch import client_fetch

_WHITESPACE = re.compile(r"\s+")


def normalised(name: str) -> str:
    """Studio's key for a port or property name: `name.toLowerCase().replace(/\\s+/g, '_')`."""
    return _WHITESPACE.sub("_", name.lower())


def _port_spec(port: Port) -> PortSpec:
    key = normalised(port.name)
    return PortSpec(port.id, port.name, port.data_type, aliases=(key,) if key != port.id else ())


def require_sandbox(call: NodeCall) -> JsSandbox:
    sandbox = call.context.sandbox
    if sandbox is None:
        raise NodeError(f"node type '{call.node.type}' runs JavaScript, but this run has no JavaScript sandbox")
    return sandbox


def emit_logs(call: NodeCall, logs: Sequence[tuple[str, str]]) -> None:
    for level, text in logs:
        call.context.events(NodeMessage(call.node.id, level, text))


class CustomNodeType(NodeType):
    """One `customNodes[]` definition of a workflow."""

    def __init__(self, definition: CustomNodeDef) -> None:
        self.definition = definition
        # Built-in types name themselves in class attributes; a custom type learns its names per instance.
        self.type_name = definition.type  # type: ignore[misc]
        self.title = definition.name  # type: ignore[misc]
        self.description = definition.description  # type: ignore[misc]
        self.inputs = tuple(_port_spec(port) for port in definition.inputs)
        self.outputs = tuple(_port_spec(port) for port in definition.outputs)
        self.defaults = {prop.id: prop.default for prop in definition.properties}

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        sandbox = require_sandbox(call)
        http = call.context.http
        fetch = client_fetch(http.workflow, sandbox.limits.max_fetch_bytes) if http is not None else None
        try:
            result = await sandbox.run_node(
                self.definition.execution_code, self.script_inputs(call.inputs), self.properties(call.node), fetch
            )
        except SandboxError as exc:
            emit_logs(call, exc.logs)
            raise
        emit_logs(call, result.logs)
        return self.outputs_of(result)

    def script_inputs(self, values: Mapping[str, Any]) -> dict[str, Any]:
        inputs: dict[str, Any] = {}
        for port in self.inputs:
            if port.id in values:
                inputs[normalised(port.name)] = values[port.id]
                inputs[port.id] = values[port.id]
        return inputs

    def properties(self, node: Node) -> dict[str, Any]:
        saved = node.data.get("properties")
        given: Mapping[str, Any] = saved if isinstance(saved, Mapping) else {}
        values = dict(given)
        for prop in self.definition.properties:
            key = normalised(prop.name)
            candidates = (given.get(prop.id), given.get(prop.name), given.get(key), node.data.get(prop.id))
            value = next((candidate for candidate in candidates if candidate is not None), prop.default)
            values[key] = value
            values[prop.id] = value
        return values

    def outputs_of(self, result: ScriptResult) -> dict[str, Any]:
        value = result.value
        if not isinstance(value, Mapping):
            if len(self.outputs) == 1:
                return {self.outputs[0].id: value}
            names = ", ".join(normalised(port.name) for port in self.outputs) or "none"
            raise NodeError(
                f"custom node returned {type(value).__name__}; it must return an object keyed by its output names "
                f"({names})"
            )
        outputs: dict[str, Any] = {}
        for port in self.outputs:
            key = next((k for k in (normalised(port.name), port.id, port.name) if k in value), None)
            outputs[port.id] = value[key] if key is not None else None
        return outputs


def custom_node_type(definition: CustomNodeDef) -> NodeType:
    """The registry's custom-node factory."""
    return CustomNodeType(definition)
