"""Logic nodes: `if-else`, which branches.

Agent Studio's semantics: `expression` (default `input > 0`) is evaluated with `input` bound to the
value on the input port; when truthy the `true` port carries `trueValue` (or the input itself when
`trueValue` is empty), otherwise the `false` port carries `falseValue` (or the input). Only the active
port produces a value, so nodes reachable only through the other one are skipped. An expression that
throws counts as false, as in Studio, and is reported as a warning message. The expression runs in the
JavaScript sandbox; one that runs out of time or memory fails the node.

Server compatibility: the input port also answers to `condition`, and the extra `output` port always
carries the chosen value (the original server's `output`).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.events import NodeMessage
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.custom import emit_logs, require_sandbox
from clara_runner.flow.sandbox import SandboxError, ScriptError


class IfElseNode(NodeType):
    type_name = "if-else"
    title = "If / Else"
    inputs = (PortSpec("input", "Input Variable", aliases=("condition",)),)
    outputs = (
        PortSpec("true", "True"),
        PortSpec("false", "False"),
        PortSpec("output", "Chosen Value"),
    )
    defaults = {"expression": "input > 0", "trueValue": "", "falseValue": ""}
    branches = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        sandbox = require_sandbox(call)
        value = call.inputs.get("input")
        expression = call.text_prop("expression")
        try:
            result = await sandbox.condition(expression, value)
        except ScriptError as exc:
            emit_logs(call, exc.logs)
            warning = f"expression `{expression}` failed, so the false branch was taken: {exc.message}"
            call.context.events(NodeMessage(call.node.id, "warn", warning))
            passed = False
        except SandboxError as exc:
            raise exc.about(f"expression `{expression}` could not be evaluated") from exc
        else:
            emit_logs(call, result.logs)
            passed = bool(result.value)
        port = "true" if passed else "false"
        chosen = call.prop(f"{port}Value")
        if chosen is None or chosen == "":
            chosen = value
        return {port: chosen, "output": chosen}
