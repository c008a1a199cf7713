from __future__ import annotations

import asyncio
from typing import Any

import pytest

from clara_runner.flow.context import RunContext
from clara_runner.flow.errors import NodeFailed
from clara_runner.flow.events import NodeFinished, NodeStarted, RunEvent, TraceRecorder
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.plan import Plan, compile_flow
from clara_runner.flow.runner import run
from tests.flow.probes import SleepNode, probe_registry


def plan_of(nodes: list[dict[str, Any]], links: list[tuple[str, str, str, str]]) -> Plan:
    document = {
        "nodes": nodes,
        "connections": [
            {"sourceNodeId": s, "sourcePortId": sp, "targetNodeId": t, "targetPortId": tp} for s, sp, t, tp in links
        ],
    }
    return compile_flow(parse_flow(document), probe_registry())


def node(node_id: str, node_type: str, **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": data}


@pytest.mark.parametrize("value", [0, "", False, None, 0.0, [], {}])
async def test_falsy_values_travel_port_exactly(value: Any) -> None:
    plan = plan_of(
        [node("c", "probe-constant", value=value), node("e", "probe-echo"), node("o", "output")],
        [("c", "output", "e", "input"), ("e", "output", "o", "input")],
    )
    result = await run(plan, {}, RunContext())
    assert result.outputs == {"o": value}
    assert type(result.outputs["o"]) is type(value)


async def test_independent_nodes_run_concurrently() -> None:
    SleepNode.intervals.clear()
    plan = plan_of(
        [node("a", "probe-sleep", seconds=0.2), node("b", "probe-sleep", seconds=0.2), node("o", "output")],
        [("a", "output", "o", "input"), ("b", "output", "o", "input")],
    )
    await run(plan, {}, RunContext())
    (a_start, a_end), (b_start, b_end) = SleepNode.intervals["a"], SleepNode.intervals["b"]
    assert a_start < b_end
    assert b_start < a_end


async def test_a_node_runs_after_all_its_inputs() -> None:
    SleepNode.intervals.clear()
    plan = plan_of(
        [
            node("slow", "probe-sleep", seconds=0.1),
            node("fast", "probe-sleep", seconds=0.0),
            node("join", "probe-sleep"),
            node("o", "output"),
        ],
        [("slow", "output", "join", "input"), ("fast", "output", "join", "input"), ("join", "output", "o", "input")],
    )
    await run(plan, {}, RunContext())
    assert SleepNode.intervals["join"][0] >= SleepNode.intervals["slow"][1]


async def test_last_active_connection_into_a_port_wins() -> None:
    plan = plan_of(
        [node("one", "probe-constant", value=1), node("two", "probe-constant", value=2), node("o", "output")],
        [("one", "output", "o", "input"), ("two", "output", "o", "input")],
    )
    assert (await run(plan, {}, RunContext())).outputs == {"o": 2}


@pytest.mark.parametrize(("value", "taken"), [("go", "yes-out"), ("", "no-out")])
async def test_inactive_branch_is_skipped_with_everything_only_it_feeds(value: str, taken: str) -> None:
    plan = plan_of(
        [
            node("c", "probe-constant", value=value),
            node("b", "probe-branch"),
            node("yes", "probe-echo"),
            node("no", "probe-echo"),
            node("yes-out", "output"),
            node("no-out", "output"),
        ],
        [
            ("c", "output", "b", "input"),
            ("b", "yes", "yes", "input"),
            ("b", "no", "no", "input"),
            ("yes", "output", "yes-out", "input"),
            ("no", "output", "no-out", "input"),
        ],
    )
    trace = TraceRecorder()
    result = await run(plan, {}, RunContext(events=trace))
    assert result.outputs == {taken: value}
    skipped = {entry["nodeId"] for entry in trace.entries if entry["status"] == "skipped"}
    assert skipped == {"no", "no-out"} if taken == "yes-out" else {"yes", "yes-out"}
    assert result.nodes_executed == 4
    assert result.nodes_skipped == 2


async def test_a_node_with_one_active_input_still_runs() -> None:
    plan = plan_of(
        [
            node("c", "probe-constant", value=""),
            node("b", "probe-branch"),
            node("k", "probe-constant", value="k"),
            node("e", "probe-echo"),
            node("o", "output"),
        ],
        [
            ("c", "output", "b", "input"),
            ("b", "yes", "e", "other"),
            ("k", "output", "e", "input"),
            ("e", "output", "o", "input"),
        ],
    )
    assert (await run(plan, {}, RunContext())).outputs == {"o": "k"}


async def test_first_failure_cancels_the_rest_and_names_the_node() -> None:
    SleepNode.intervals.clear()
    plan = plan_of(
        [
            node("slow", "probe-sleep", seconds=5),
            {"id": "bad", "type": "probe-fail", "name": "Broken", "data": {"message": "boom"}},
            node("o", "output"),
        ],
        [("slow", "output", "o", "input"), ("bad", "output", "o", "input")],
    )
    events: list[RunEvent] = []
    with pytest.raises(NodeFailed) as raised:
        await asyncio.wait_for(run(plan, {}, RunContext(events=events.append)), timeout=2)
    assert raised.value.node_id == "bad"
    assert str(raised.value) == "Node 'Broken' (probe-fail) failed: boom"
    statuses = {e.node_id: e.status for e in events if isinstance(e, NodeFinished)}
    assert statuses == {"bad": "error", "slow": "cancelled"}
    assert "slow" not in SleepNode.intervals


async def test_cancelling_the_run_cancels_running_nodes() -> None:
    SleepNode.intervals.clear()
    plan = plan_of([node("slow", "probe-sleep", seconds=5), node("o", "output")], [("slow", "output", "o", "input")])
    events: list[RunEvent] = []
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.1):
            await run(plan, {}, RunContext(events=events.append))
    assert [type(e) for e in events] == [NodeStarted, NodeFinished]
    assert isinstance(events[1], NodeFinished)
    assert events[1].status == "cancelled"


async def test_input_nodes_receive_api_values_by_node_id() -> None:
    plan = plan_of([node("i", "input", value="saved"), node("o", "output")], [("i", "output", "o", "input")])
    assert (await run(plan, {"i": "sent"}, RunContext())).outputs == {"o": "sent"}
    assert (await run(plan, {}, RunContext())).outputs == {"o": "saved"}


async def test_output_without_a_value_is_absent() -> None:
    plan = plan_of([node("o", "output")], [])
    result = await run(plan, {}, RunContext())
    assert result.outputs == {}
    assert result.nodes_executed == 1
