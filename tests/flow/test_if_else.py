"""`if-else` branches for real: only the active port produces, and what hangs off the other is skipped."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from clara_runner.contract.schema import build_contract
from clara_runner.flow.errors import NodeFailed
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.sandbox import JsSandbox, SandboxLimits
from tests.flow.flows import Recorded, edge, node, run_flow


@pytest.fixture
async def sandbox() -> AsyncIterator[JsSandbox]:
    box = JsSandbox(SandboxLimits(timeout_seconds=5))
    yield box
    await box.aclose()


def branching_flow(input_port: str = "input", **if_data: Any) -> dict[str, Any]:
    """n -> if-else; true -> yes output; false -> stringify -> no output; both branches -> merged output."""
    return {
        "nodes": [
            node("n", "input", label="N", inputType="json"),
            node("check", "if-else", **if_data),
            node("yes", "output", outputLabel="Yes"),
            node("stringify", "json-stringify", prettyPrint=False),
            node("no", "output", outputLabel="No"),
            node("merged", "output", outputLabel="Merged"),
        ],
        "connections": [
            edge("n", "output", "check", input_port),
            edge("check", "true", "yes", "input"),
            edge("check", "false", "stringify", "input"),
            edge("stringify", "output", "no", "input"),
            edge("check", "true", "merged", "input"),
            edge("stringify", "output", "merged", "input"),
        ],
    }


async def test_a_true_expression_runs_only_the_true_branch(sandbox: JsSandbox) -> None:
    recorded = Recorded()
    result = await run_flow(branching_flow(), {"n": 5}, sandbox=sandbox, recorded=recorded)
    assert result.outputs == {"yes": 5, "merged": 5}
    assert recorded.status() == {
        "n": "success",
        "check": "success",
        "yes": "success",
        "stringify": "skipped",
        "no": "skipped",
        "merged": "success",
    }
    assert (result.nodes_executed, result.nodes_skipped) == (4, 2)


async def test_a_false_expression_skips_everything_reachable_only_through_true(sandbox: JsSandbox) -> None:
    recorded = Recorded()
    flow = branching_flow(expression="input.length > 2", falseValue={"short": True})
    result = await run_flow(flow, {"n": [1]}, sandbox=sandbox, recorded=recorded)
    assert result.outputs == {"no": '{"short":true}', "merged": '{"short":true}'}
    assert recorded.status()["yes"] == "skipped"


async def test_true_value_replaces_the_input_and_falsy_inputs_are_kept(sandbox: JsSandbox) -> None:
    with_value = await run_flow(branching_flow(trueValue="positive"), {"n": 3}, sandbox=sandbox)
    assert with_value.outputs["yes"] == "positive"
    zero = await run_flow(branching_flow(expression="input === 0"), {"n": 0}, sandbox=sandbox)
    assert zero.outputs == {"yes": 0, "merged": 0}


async def test_the_server_condition_alias_feeds_the_input_port(sandbox: JsSandbox) -> None:
    result = await run_flow(branching_flow(input_port="condition"), {"n": -1}, sandbox=sandbox)
    assert result.outputs == {"no": "-1", "merged": "-1"}


async def test_a_throwing_expression_takes_the_false_branch_with_a_warning(sandbox: JsSandbox) -> None:
    recorded = Recorded()
    flow = branching_flow(expression="input.missing.deeper > 1")
    result = await run_flow(flow, {"n": {"a": 1}}, sandbox=sandbox, recorded=recorded)
    assert result.outputs == {"no": '{"a":1}', "merged": '{"a":1}'}
    [(kind, text)] = recorded.messages("check")
    assert kind == "warn"
    assert text.startswith("expression `input.missing.deeper > 1` failed, so the false branch was taken: TypeError")


async def test_a_runaway_expression_fails_the_node() -> None:
    box = JsSandbox(SandboxLimits(timeout_seconds=0.2))
    try:
        with pytest.raises(NodeFailed, match="could not be evaluated: the script ran longer than 200 ms") as raised:
            await run_flow(branching_flow(expression="(() => { while (true) {} })()"), {"n": 1}, sandbox=box)
    finally:
        await box.aclose()
    assert raised.value.code == "sandbox_timeout"


def test_outputs_behind_a_branch_are_optional_in_the_contract() -> None:
    contract = build_contract(compile_flow(parse_flow(branching_flow()), default_registry()))
    assert {field.name: field.required for field in contract.outputs} == {"yes": False, "no": False, "merged": False}
