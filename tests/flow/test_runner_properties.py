"""Property-based tests of the scheduler on random DAGs.

Time is logical: the position of each NodeStarted / NodeFinished event in the event stream. A probe
node yields to the event loop once between starting and finishing, so two nodes overlap exactly when
the scheduler had both in flight at once, whatever the machine's speed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from clara_runner.flow.context import RunContext
from clara_runner.flow.events import NodeFinished, NodeStarted, RunEvent
from clara_runner.flow.model import Edge, Flow, Node
from clara_runner.flow.nodes.base import NodeCall, NodeType, PortSpec
from clara_runner.flow.nodes.io import OutputNode
from clara_runner.flow.nodes.registry import build_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.runner import run


class ProbeNode(NodeType):
    """Test-only: counts its inputs, yields once, and passes on how many nodes fed it."""

    type_name = "probe"
    inputs = (PortSpec("input", "In"),)
    outputs = (PortSpec("output", "Out"),)

    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        await asyncio.sleep(0)
        return {"output": call.node.id}


REGISTRY = build_registry([(ProbeNode(), ()), (OutputNode(), ())])


@st.composite
def dags(draw: st.DrawFn) -> tuple[int, list[tuple[int, int]]]:
    """A random DAG on nodes 0..n-1: edges only go from a lower to a higher index (so no cycles)."""
    size = draw(st.integers(min_value=1, max_value=14))
    pairs = [(source, target) for target in range(size) for source in range(target)]
    chosen = draw(st.lists(st.sampled_from(pairs), max_size=30, unique=True)) if pairs else []
    return size, chosen


def build(size: int, pairs: list[tuple[int, int]]) -> Flow:
    probes = [Node(f"p{index}", "probe", "", {}) for index in range(size)]
    sinks = [index for index in range(size) if not any(source == index for source, _ in pairs)]
    edges = [Edge(f"p{source}", "output", f"p{target}", "input") for source, target in pairs]
    edges += [Edge(f"p{sink}", "output", "out", "input") for sink in sinks]
    return Flow(nodes=(*probes, Node("out", "output", "", {})), edges=tuple(edges))


def record(size: int, pairs: list[tuple[int, int]]) -> list[RunEvent]:
    events: list[RunEvent] = []
    plan = compile_flow(build(size, pairs), REGISTRY)
    asyncio.run(run(plan, {}, RunContext(events=events.append)))
    return events


@settings(max_examples=150, deadline=None)
@given(dags())
def test_every_node_runs_once_after_all_its_inputs(dag: tuple[int, list[tuple[int, int]]]) -> None:
    size, pairs = dag
    events = record(size, pairs)
    starts = [(i, e.node_id) for i, e in enumerate(events) if isinstance(e, NodeStarted)]
    ends = {e.node_id: i for i, e in enumerate(events) if isinstance(e, NodeFinished)}
    started = [node_id for _, node_id in starts]
    assert sorted(started) == sorted([f"p{index}" for index in range(size)] + ["out"])
    start_of = {node_id: i for i, node_id in starts}
    assert all(e.status == "success" for e in events if isinstance(e, NodeFinished))
    for source, target in pairs:
        assert ends[f"p{source}"] < start_of[f"p{target}"]


@settings(max_examples=150, deadline=None)
@given(dags())
def test_nodes_released_together_run_at_the_same_time(dag: tuple[int, list[tuple[int, int]]]) -> None:
    """Nodes that become ready at the same moment (same last-finishing input, or none) overlap in time."""
    size, pairs = dag
    events = record(size, pairs)
    start = {e.node_id: i for i, e in enumerate(events) if isinstance(e, NodeStarted)}
    end = {e.node_id: i for i, e in enumerate(events) if isinstance(e, NodeFinished)}
    released_by: dict[str, str | None] = {}
    for index in range(size):
        sources = [f"p{source}" for source, target in pairs if target == index]
        released_by[f"p{index}"] = max(sources, key=end.__getitem__) if sources else None
    groups: dict[str | None, list[str]] = {}
    for node_id, releaser in released_by.items():
        groups.setdefault(releaser, []).append(node_id)
    for members in groups.values():
        for first in members:
            for second in members:
                assert start[first] < end[second], f"{first} and {second} were ready together but ran one after another"
