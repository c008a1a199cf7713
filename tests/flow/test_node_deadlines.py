"""`data.timeoutMs`: checked at deploy, enforced by the runner around any node type."""

from __future__ import annotations

import pytest

from clara_runner.flow.context import RunContext, default_http_clients
from clara_runner.flow.errors import FlowDefinitionError, NodeFailed
from clara_runner.flow.events import TraceRecorder
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.runner import run
from tests.loopback import loopback_server
from tests.nodes import chain, registry_with_test_nodes


@pytest.mark.parametrize("value", ["5000", -1, 0, True, [100], {"ms": 5}, 10**12])
def test_a_bad_timeout_is_a_deploy_problem(value: object) -> None:
    flow = parse_flow(chain({"id": "emit", "type": "test-emit", "data": {"value": 1, "timeoutMs": value}}))
    with pytest.raises(FlowDefinitionError) as found:
        compile_flow(flow, registry_with_test_nodes())
    assert found.value.problems == [
        f"node 'emit': data.timeoutMs must be a positive number of milliseconds up to 86400000 (got {value!r:.60})"
    ]


async def test_the_runner_cancels_a_node_past_its_timeout_and_traces_it() -> None:
    async with loopback_server() as upstream:
        upstream.routes["/slow"] = upstream.hang()
        flow = parse_flow(
            chain({"id": "fetch", "type": "test-fetch", "data": {"url": f"{upstream.url}/slow", "timeoutMs": 100.5}})
        )
        plan = compile_flow(flow, registry_with_test_nodes())
        trace = TraceRecorder()
        http = default_http_clients()
        try:
            with pytest.raises(NodeFailed) as failed:
                await run(plan, {}, RunContext(events=trace, http=http))
            await upstream.wait_closed(10)
        finally:
            await http.aclose()
    assert failed.value.code == "node_timeout"
    assert failed.value.node_id == "fetch"
    assert trace.entries[-1]["status"] == "timeout"
    assert "timeoutMs (100 ms)" in trace.entries[-1]["error"]
