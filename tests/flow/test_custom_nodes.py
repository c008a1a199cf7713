"""Custom nodes follow Agent Studio's contract: name-keyed inputs and properties, outputs mapped back to ports."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx2
import pytest

from clara_runner.flow.context import HttpClients
from clara_runner.flow.errors import FlowDefinitionError, NodeFailed
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow
from clara_runner.flow.sandbox import JsSandbox
from tests.flow.flows import Recorded, edge, node, run_flow
from tests.flow.loopback import EchoServer
from tests.support import shared_workflow


@pytest.fixture
async def sandbox() -> AsyncIterator[JsSandbox]:
    box = JsSandbox()
    yield box
    await box.aclose()


def custom_flow(
    code: str, properties: dict[str, Any] | None = None, node_data: dict[str, Any] | None = None, **extra: Any
) -> dict[str, Any]:
    """input(a) and input(b) -> custom "appender" (ports First Text / Second Text -> Appended Text, Count)."""
    definition = {
        "type": "appender",
        "name": "Appender",
        "inputs": [{"id": "input_1", "name": "First Text"}, {"id": "input_2", "name": "second"}],
        "outputs": [{"id": "output_1", "name": "Appended Text"}, {"id": "count", "name": "Count"}],
        "properties": [
            {"id": "prop_sep", "name": "Separator", "defaultValue": "-"},
            {"id": "prop_times", "name": "Times", "defaultValue": 1},
            {"id": "prop_mode", "name": "Mode", "defaultValue": "plain"},
        ],
        "executionCode": code,
        **extra,
    }
    return {
        "nodes": [
            node("a", "input", label="A"),
            node("b", "input", label="B"),
            node("custom", "appender", properties=properties or {}, **(node_data or {})),
            node("text", "output", outputLabel="Text"),
            node("count", "output", outputLabel="Count"),
        ],
        "connections": [
            edge("a", "output", "custom", "input_1"),
            edge("b", "output", "custom", "input_2"),
            edge("custom", "output_1", "text", "input"),
            edge("custom", "count", "count", "input"),
        ],
        "customNodes": [definition],
    }


async def test_the_studio_export_example_uppercases_and_logs(sandbox: JsSandbox) -> None:
    recorded = Recorded()
    result = await run_flow(shared_workflow("custom-node-export-example.json"), sandbox=sandbox, recorded=recorded)
    assert result.outputs == {"output-1": "HELLO WORLD"}
    assert recorded.messages("custom-1") == [
        ("log", "Transforming text: hello world"),
        ("log", "Operation: uppercase"),
        ("log", "Result: HELLO WORLD"),
    ]


async def test_inputs_arrive_by_normalised_name_and_by_port_id(sandbox: JsSandbox) -> None:
    code = """async function execute(inputs) {
      return {appended_text: [inputs.first_text, inputs.input_1, inputs.second, inputs.input_2].join('|'),
              count: Object.keys(inputs).length};
    }"""
    result = await run_flow(custom_flow(code), {"a": "x", "b": ""}, sandbox=sandbox)
    assert result.outputs == {"text": "x|x||", "count": 4}


async def test_properties_come_by_name_with_defaults_from_ids_or_names(sandbox: JsSandbox) -> None:
    code = "return {appended_text: JSON.stringify(properties), count: null}"
    saved = {"prop_sep": "+", "Times": 0, "extra": True}
    flow = custom_flow(code, saved, node_data={"prop_mode": "from data", "prop_sep": "ignored"})
    result = await run_flow(flow, {"a": "x", "b": "y"}, sandbox=sandbox)
    assert json.loads(result.outputs["text"]) == {
        "separator": "+",
        "prop_sep": "+",
        "times": 0,
        "prop_times": 0,
        "Times": 0,
        "mode": "from data",
        "prop_mode": "from data",
        "extra": True,
    }


async def test_results_map_to_ports_by_name_or_id_and_missing_ports_carry_null(sandbox: JsSandbox) -> None:
    by_id = await run_flow(custom_flow("return {output_1: 'by id'}"), {"a": 1, "b": 2}, sandbox=sandbox)
    assert by_id.outputs == {"text": "by id", "count": None}
    by_name = await run_flow(
        custom_flow("return {'Appended Text': 'raw name', count: 0}"), {"a": 1, "b": 2}, sandbox=sandbox
    )
    assert by_name.outputs == {"text": "raw name", "count": 0}


async def test_a_non_object_result_needs_a_single_output_port(sandbox: JsSandbox) -> None:
    with pytest.raises(NodeFailed, match="must return an object keyed by its output names"):
        await run_flow(custom_flow("return 'plain'"), {"a": 1, "b": 2}, sandbox=sandbox)
    flow = shared_workflow("custom-node-export-example.json")
    flow["customNodes"][0]["executionCode"] = "async function execute(inputs) { return inputs.text.length }"
    result = await run_flow(flow, sandbox=sandbox)
    assert result.outputs == {"output-1": len("hello world")}


async def test_a_thrown_error_fails_the_node_with_its_message(sandbox: JsSandbox) -> None:
    recorded = Recorded()
    code = "context.warn('about to fail'); throw new Error('Second text is required')"
    with pytest.raises(NodeFailed) as raised:
        await run_flow(custom_flow(code), {"a": 1, "b": 2}, sandbox=sandbox, recorded=recorded)
    assert (raised.value.node_id, raised.value.reason) == ("custom", "Second text is required")
    assert recorded.status()["custom"] == "error"
    assert recorded.messages("custom") == [("warn", "about to fail")]


async def test_without_a_sandbox_a_custom_node_fails_clearly() -> None:
    with pytest.raises(NodeFailed, match="runs JavaScript, but this run has no JavaScript sandbox"):
        await run_flow(custom_flow("return {}"), {"a": 1, "b": 2}, sandbox=None)


def test_connections_must_name_ports_the_definition_declares() -> None:
    flow = custom_flow("return {}")
    flow["connections"].append(edge("a", "output", "custom", "input_9"))
    with pytest.raises(FlowDefinitionError) as raised:
        compile_flow(parse_flow(flow), default_registry())
    assert raised.value.problems == [
        "connection 4 (a.output -> custom.input_9): node 'custom' (appender) has no input port 'input_9'; "
        "its input ports are: input_1, input_2"
    ]


def test_connections_may_use_port_names_and_a_registry_without_factory_refuses_custom_nodes() -> None:
    flow = custom_flow("return {}")
    flow["connections"][0] = edge("a", "output", "custom", "first_text")
    compile_flow(parse_flow(flow), default_registry())
    with pytest.raises(FlowDefinitionError, match="custom node type 'appender' cannot run on this server"):
        compile_flow(parse_flow(flow), default_registry(custom_factory=None))


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


async def test_context_fetch_uses_the_workflow_http_client(sandbox: JsSandbox, echo: EchoServer) -> None:
    code = """async function execute(inputs, properties, context) {
      const response = await context.fetch(inputs.first_text + '/hello');
      const echoed = await response.json();
      return {appended_text: echoed.headers['x-client'], count: response.status};
    }"""
    async with (
        httpx2.AsyncClient(headers={"X-Client": "services"}) as services,
        httpx2.AsyncClient(headers={"X-Client": "workflow"}) as workflow,
    ):
        http = HttpClients(services=services, workflow=workflow)
        result = await run_flow(custom_flow(code), {"a": echo.url, "b": ""}, sandbox=sandbox, http=http)
    assert result.outputs == {"text": "workflow", "count": 200}
