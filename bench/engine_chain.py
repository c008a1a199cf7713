"""Engine overhead per node on a 10,000-node chain of json-stringify nodes.

Run: `.venv-test/bin/python bench/engine_chain.py [--nodes 10000] [--repeat 5]`

The figure is the best wall time of `runner.run` over the chain divided by its node count. The floor
is the same node implementations called directly, in a plain loop with no scheduler (same NodeCall
objects built per node, same values passed along), measured in the same process; the ratio is the
scheduler's own cost. Target: <= 10 us per node.
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import time
from typing import Any

from clara_runner.flow.context import RunContext
from clara_runner.flow.model import Edge, Flow, Node
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.nodes.base import MISSING, NodeCall
from clara_runner.flow.plan import Plan, compile_flow
from clara_runner.flow.runner import run

TARGET_US = 10.0


def chain(length: int) -> Flow:
    nodes = [Node("in", "input", "", {"inputType": "json"})]
    nodes += [Node(f"s{index}", "json-stringify", "", {}) for index in range(length)]
    nodes.append(Node("out", "output", "", {}))
    ids = [node.id for node in nodes]
    edges = tuple(Edge(source, "output", target, "input") for source, target in itertools.pairwise(ids))
    return Flow(nodes=tuple(nodes), edges=edges)


async def engine(plan: Plan, value: Any) -> float:
    started = time.perf_counter()
    result = await run(plan, {"in": value}, RunContext())
    elapsed = time.perf_counter() - started
    assert result.nodes_executed == len(plan.nodes)
    return elapsed


async def floor(plan: Plan, value: Any) -> float:
    context = RunContext()
    started = time.perf_counter()
    current: Any = MISSING
    for planned in plan.nodes:
        inputs = {} if current is MISSING else {"input": current}
        external = value if planned.index == 0 else MISSING
        produced = await planned.node_type.run(NodeCall(planned.node, planned.node_type, inputs, context, external))
        current = produced.get("output", MISSING)
    elapsed = time.perf_counter() - started
    assert current is not MISSING
    return elapsed


async def main(length: int, repeat: int) -> None:
    plan = compile_flow(chain(length), default_registry())
    value = {"message": "hello", "items": [1, 2, 3]}
    count = len(plan.nodes)
    engine_best = min([await engine(plan, value) for _ in range(repeat)])
    floor_best = min([await floor(plan, value) for _ in range(repeat)])
    per_node = engine_best / count * 1e6
    floor_per_node = floor_best / count * 1e6
    print(f"chain of {count} nodes ({length} json-stringify), best of {repeat}")
    print(f"engine:  {per_node:6.2f} us/node  ({engine_best * 1000:.1f} ms per run)")
    print(f"floor:   {floor_per_node:6.2f} us/node  (same nodes called in a plain loop)")
    print(f"ratio:   {per_node / floor_per_node:6.2f}x   target <= {TARGET_US:.0f} us/node: ", end="")
    print("met" if per_node <= TARGET_US else "NOT met")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--nodes", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=5)
    arguments = parser.parse_args()
    asyncio.run(main(arguments.nodes, arguments.repeat))
