"""Test-only node types for exercising the engine (registered in registries built by tests)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes import builtin_node_types
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.registry import NodeRegistry, build_registry


class ConstantNode(NodeType):
    """Emits `data.value` on `output`, whatever it is (falsy values included)."""

    type_name = "probe-constant"
    outputs = (PortSpec("output", "Value"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        return {"output": call.node.data.get("value")}


class EchoNode(NodeType):
    """Returns its `input` port unchanged, or nothing when it received nothing."""

    type_name = "probe-echo"
    inputs = (PortSpec("input", "Input"), PortSpec("other", "Other"))
    outputs = (PortSpec("output", "Value"),)
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        return {"output": call.inputs["input"]} if "input" in call.inputs else {}


class SleepNode(NodeType):
    """Sleeps `data.seconds`, records when it ran, and passes its input on."""

    type_name = "probe-sleep"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Value"),)
    intervals: dict[str, tuple[float, float]] = {}

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        started = time.perf_counter()
        await asyncio.sleep(float(call.node.data.get("seconds", 0.05)))
        self.intervals[call.node.id] = (started, time.perf_counter())
        return {"output": call.inputs.get("input")}


class FailNode(NodeType):
    type_name = "probe-fail"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Value"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        raise NodeError(str(call.node.data.get("message", "probe failure")))


class CrashNode(NodeType):
    """Raises what no node means for the caller: an exception quoting the server's insides."""

    type_name = "probe-crash"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("output", "Value"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        raise TypeError(f"'NoneType' object is not iterable (/srv/clara/internal/{call.node.id}.py, line 42)")


class BranchNode(NodeType):
    """Produces its input on `yes` when it is truthy, else on `no`: only one port is active."""

    type_name = "probe-branch"
    inputs = (PortSpec("input", "Input"),)
    outputs = (PortSpec("yes", "Yes"), PortSpec("no", "No"))
    branches = True
    inline = True

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        value = call.inputs.get("input")
        return {"yes": value} if value else {"no": value}


def probe_registry() -> NodeRegistry:
    probes: list[NodeType] = [ConstantNode(), EchoNode(), SleepNode(), FailNode(), CrashNode(), BranchNode()]
    return build_registry([*builtin_node_types(), *((probe, ()) for probe in probes)])
