"""A run's values are measured as nodes produce them: a workflow that grows a value without bound is
stopped at the first node past the budget, naming it, while memory is still bounded."""

from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.budget import ValueBudget, ValueLimits, ValueTooLarge, json_size
from clara_runner.flow.context import RunContext
from clara_runner.flow.errors import NodeFailed
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.runner import run


def doubling_chain(length: int) -> dict[str, Any]:
    """`in` -> `c1` .. `c<length>`, each `combine-text` of its predecessor with itself, -> `out`."""
    nodes: list[dict[str, Any]] = [{"id": "in", "type": "input", "data": {"label": "Seed"}}]
    connections = []
    for index in range(1, length + 1):
        previous = "in" if index == 1 else f"c{index - 1}"
        nodes.append({"id": f"c{index}", "type": "combine-text", "data": {"combineMode": "concat", "addSpaces": False}})
        connections += [
            {"source": previous, "target": f"c{index}", "targetHandle": "text1"},
            {"source": previous, "target": f"c{index}", "targetHandle": "text2"},
        ]
    nodes.append({"id": "out", "type": "output", "data": {}})
    connections.append({"source": f"c{length}", "target": "out"})
    return {"nodes": nodes, "connections": connections}


async def test_a_value_that_doubles_node_after_node_is_stopped_at_the_node_that_crosses_the_limit() -> None:
    plan = compile_flow(parse_flow(doubling_chain(34)), default_registry())
    context = RunContext(value_limits=ValueLimits(max_value=1_000_000, max_total=100_000_000))
    with pytest.raises(NodeFailed) as raised:
        await run(plan, {"in": "ab"}, context)
    assert raised.value.code == "value_too_large"
    assert raised.value.node_id == "c19", "2 x 2**19 characters is the first value over a million"
    assert "MAX_VALUE_SIZE" in raised.value.reason


async def test_the_values_a_run_holds_together_have_a_budget_too() -> None:
    plan = compile_flow(parse_flow(doubling_chain(12)), default_registry())
    context = RunContext(value_limits=ValueLimits(max_value=1_000_000, max_total=10_000))
    with pytest.raises(NodeFailed) as raised:
        await run(plan, {"in": "ab"}, context)
    assert raised.value.code == "value_too_large"
    assert "MAX_RUN_VALUES_SIZE" in raised.value.reason


async def test_within_the_budget_the_run_reports_its_outputs_size() -> None:
    plan = compile_flow(parse_flow(doubling_chain(3)), default_registry())
    result = await run(plan, {"in": "ab"}, RunContext())
    assert result.outputs == {"out": "ab" * 8}
    assert result.outputs_size == json_size("ab" * 8)


def test_a_value_passed_along_unchanged_is_counted_once() -> None:
    budget = ValueBudget(ValueLimits(max_value=100, max_total=150))
    shared = ["x" * 40]
    for _ in range(10):
        assert budget.charge(shared) == json_size(shared)
    assert budget.total == json_size(shared)
    budget.charge(["y" * 40])
    budget.charge(["z" * 40])
    with pytest.raises(ValueTooLarge):
        budget.charge(["w" * 40])
