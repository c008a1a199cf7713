"""The async scheduler: runs every node once, after all its inputs, independent nodes concurrently.

Values travel port-exactly: a node receives exactly what its upstream node returned on the
connected port, falsy values included. A port that produced nothing makes its connections
inactive; a node whose every incoming connection is inactive is skipped, and so are the nodes
that depend only on it. This is how `if-else` branches.

Pure nodes (`NodeType.inline`) are awaited in place; others become tasks, so a fan-out of slow
calls overlaps while a long chain of cheap transforms costs no task per node. The first failure
cancels everything still running and is raised as `NodeFailed`. Cancelling `run` (a deadline, a
client gone) cancels every in-flight node. A node with `data.timeoutMs` is cancelled past it and
fails with `NodeTimedOut` (trace status `timeout`), whatever its type (`flow/deadlines.py`). Every value a
node returns is charged to the run's budget (`flow/budget.py`) before anything downstream sees it.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.flow.budget import ValueBudget
from clara_runner.flow.context import RunContext
from clara_runner.flow.deadlines import node_timeout
from clara_runner.flow.errors import NodeError, NodeFailed, NodeTimedOut, explanation
from clara_runner.flow.events import NodeFinished, NodeStarted, NodeStatus
from clara_runner.flow.nodes.base import MISSING, ApiRole, NodeCall
from clara_runner.flow.outbound import active_hook
from clara_runner.flow.plan import Plan, PlannedNode
from clara_runner.flow.usage import usage_at


@dataclass(slots=True)
class RunResult:
    outputs: dict[str, Any]
    """Output node id -> value, for every output node that received a value."""
    nodes_executed: int
    nodes_skipped: int
    outputs_size: int = 0
    """The outputs' size in characters of JSON, as the run's budget measured them."""


async def run(plan: Plan, inputs: Mapping[str, Any], context: RunContext) -> RunResult:
    """Run `plan` with API values keyed by input node id."""
    token = active_hook.set(context.before_outbound)
    try:
        return await _run(plan, inputs, context)
    finally:
        active_hook.reset(token)


async def _run(plan: Plan, inputs: Mapping[str, Any], context: RunContext) -> RunResult:
    nodes = plan.nodes
    results: list[Mapping[str, Any] | None] = [None] * len(nodes)
    remaining = [planned.indegree for planned in nodes]
    ready = deque(plan.roots)
    finished: asyncio.Queue[asyncio.Task[Mapping[str, Any]]] | None = None
    """Tasks that are done, in the order they finished; made for the first node that is not inline."""
    running: dict[asyncio.Task[Mapping[str, Any]], int] = {}
    executed = skipped = 0
    budget = ValueBudget(context.value_limits)

    def release(index: int) -> None:
        for target, count in nodes[index].targets:
            remaining[target] -= count
            if remaining[target] == 0:
                ready.append(target)

    try:
        while ready or running:
            while ready:
                index = ready.popleft()
                planned = nodes[index]
                call = _prepare_call(planned, results, inputs, context)
                if call is None:
                    _emit_skipped(planned, context)
                    skipped += 1
                    release(index)
                elif planned.node_type.inline:
                    results[index] = await _invoke(planned, call, budget)
                    executed += 1
                    release(index)
                else:
                    finished = finished or asyncio.Queue()
                    task = asyncio.create_task(_invoke(planned, call, budget), name=f"node:{planned.node.id}")
                    task.add_done_callback(finished.put_nowait)
                    running[task] = index
            if running:
                assert finished is not None
                task = await finished.get()
                index = running.pop(task)
                results[index] = task.result()
                executed += 1
                release(index)
    finally:
        await _cancel_all(running)

    outputs = {
        planned.node.id: result["output"]
        for planned in nodes
        if planned.node_type.role is ApiRole.OUTPUT
        and (result := results[planned.index]) is not None
        and "output" in result
    }
    size = sum(budget.charge(value) for value in outputs.values())
    return RunResult(outputs=outputs, nodes_executed=executed, nodes_skipped=skipped, outputs_size=size)


def _prepare_call(
    planned: PlannedNode,
    results: list[Mapping[str, Any] | None],
    inputs: Mapping[str, Any],
    context: RunContext,
) -> NodeCall | None:
    """The node's call, or None when every incoming connection is inactive (the node is skipped)."""
    values: dict[str, Any] = {}
    active = not planned.in_edges
    for source, source_port, target_port in planned.in_edges:
        produced = results[source]
        if produced is not None and source_port in produced:
            values[target_port] = produced[source_port]
            active = True
    if not active:
        return None
    external = inputs.get(planned.node.id, MISSING) if planned.node_type.role is ApiRole.INPUT else MISSING
    return NodeCall(planned.node, planned.node_type, values, context, external)


async def _invoke(planned: PlannedNode, call: NodeCall, budget: ValueBudget) -> Mapping[str, Any]:
    observe = call.context.nodes
    if observe is None:
        return await _invoke_node(planned, call, budget)
    with observe(planned.node.id, planned.node.type):
        return await _invoke_node(planned, call, budget)


async def _invoke_node(planned: PlannedNode, call: NodeCall, budget: ValueBudget) -> Mapping[str, Any]:
    node = planned.node
    emit = call.context.events
    started_at = time.time()
    started = time.perf_counter()
    emit(NodeStarted(node.id, node.type, started_at))
    try:
        result = await _run_node(planned, call)
        for value in result.values():
            budget.charge(value)
    except asyncio.CancelledError:
        emit(NodeFinished(node.id, node.type, "cancelled", started_at, _ms_since(started)))
        raise
    except NodeError as exc:
        status: NodeStatus = "timeout" if isinstance(exc, NodeTimedOut) else "error"
        emit(NodeFinished(node.id, node.type, status, started_at, _ms_since(started), str(exc)))
        raise NodeFailed(node.id, node.type, node.label, str(exc), exc.code) from exc
    except Exception as exc:
        explained = explanation(exc)
        message = _UNFORESEEN.format(type(exc).__name__) if explained is None else str(explained)
        code = NodeError.code if explained is None else explained.code
        emit(NodeFinished(node.id, node.type, "error", started_at, _ms_since(started), message))
        raise NodeFailed(node.id, node.type, node.label, message, code) from exc
    path = planned.node_type.usage_path
    usage = usage_at(result, path) if path else None
    emit(NodeFinished(node.id, node.type, "success", started_at, _ms_since(started), None, usage))
    return result


async def _run_node(planned: PlannedNode, call: NodeCall) -> Mapping[str, Any]:
    """`run` under the node's own `timeoutMs`, when it has one."""
    seconds = node_timeout(planned.node)
    if seconds is None:
        return await planned.node_type.run(call)
    deadline = asyncio.timeout(seconds)
    try:
        async with deadline:
            return await planned.node_type.run(call)
    except TimeoutError as exc:
        if not deadline.expired():
            raise
        raise NodeTimedOut(
            f"the node ran longer than its timeoutMs ({round(seconds * 1000)} ms) and was cancelled"
        ) from exc


_UNFORESEEN = "the node failed in a way it does not explain ({}); the server's log has the details"
"""What the caller learns of an exception no node meant for it: its class, never its text, which may
quote internals (a `NoneType` here, a file path there)."""


def _emit_skipped(planned: PlannedNode, context: RunContext) -> None:
    node = planned.node
    context.events(NodeFinished(node.id, node.type, "skipped", time.time(), 0.0))


def _ms_since(started: float) -> float:
    return (time.perf_counter() - started) * 1000


async def _cancel_all(running: Mapping[asyncio.Task[Mapping[str, Any]], int]) -> None:
    for task in running:
        task.cancel()
    if running:
        await asyncio.gather(*running, return_exceptions=True)
