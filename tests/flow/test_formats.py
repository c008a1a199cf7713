from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.model import Edge
from tests.support import WORKFLOWS, shared_workflow

STUDIO_NODE = {"id": "a", "type": "input", "name": "Input", "data": {"label": "Question"}}
STUDIO_OUTPUT = {"id": "b", "type": "output", "name": "Output", "data": {}}
STUDIO_CONNECTION = {
    "id": "c1",
    "sourceNodeId": "a",
    "sourcePortId": "output",
    "targetNodeId": "b",
    "targetPortId": "input",
}
CUSTOM = {"type": "shout", "name": "Shout", "executionCode": "async function execute(){return {}}"}


def test_flat_document_with_studio_connections() -> None:
    flow = parse_flow({"nodes": [STUDIO_NODE, STUDIO_OUTPUT], "connections": [STUDIO_CONNECTION]})
    assert [node.id for node in flow.nodes] == ["a", "b"]
    assert flow.edges == (Edge("a", "output", "b", "input"),)
    assert flow.nodes[0].label == "Question"


def test_react_flow_edges_default_their_handles() -> None:
    flow = parse_flow({"nodes": [STUDIO_NODE, STUDIO_OUTPUT], "edges": [{"source": "a", "target": "b"}]})
    assert flow.edges == (Edge("a", "output", "b", "input"),)


def test_react_flow_handles_are_kept() -> None:
    edge = {"source": "a", "target": "b", "sourceHandle": "text", "targetHandle": "user"}
    flow = parse_flow({"nodes": [STUDIO_NODE, STUDIO_OUTPUT], "connections": [edge]})
    assert flow.edges == (Edge("a", "text", "b", "user"),)


@pytest.mark.parametrize("wrapper", ["clara-sdk", "clara-native"])
def test_export_wrapper_merges_top_level_and_nested_custom_nodes(wrapper: str) -> None:
    nested = {**CUSTOM, "type": "whisper-ish"}
    document = {
        "format": wrapper,
        "flow": {"name": "F", "nodes": [STUDIO_NODE], "connections": [], "customNodes": [nested]},
        "customNodes": [CUSTOM],
    }
    flow = parse_flow(document)
    assert {definition.type for definition in flow.custom_nodes} == {"shout", "whisper-ish"}
    assert flow.name == "F"


def test_template_wrapper_is_unwrapped() -> None:
    document = {"id": "t", "name": "Template", "category": "x", "flow": {"nodes": [STUDIO_NODE], "connections": []}}
    flow = parse_flow(document)
    assert flow.name == "Template"
    assert len(flow.nodes) == 1


def test_custom_node_properties_and_ports_are_read() -> None:
    definition = {
        **CUSTOM,
        "inputs": [{"id": "in", "name": "Text", "dataType": "string"}],
        "outputs": [{"id": "out", "name": "Result"}],
        "properties": [{"id": "prop_1", "name": "Mode", "defaultValue": "upper"}],
    }
    (parsed,) = parse_flow({"nodes": [], "connections": [], "customNodes": [definition]}).custom_nodes
    assert parsed.inputs[0].name == "Text"
    assert parsed.outputs[0].id == "out"
    assert parsed.properties[0].default == "upper"


def test_every_problem_is_reported_at_once() -> None:
    document: dict[str, Any] = {
        "nodes": [{"type": "input"}, {"id": "x", "type": 5, "data": "nope"}, "not a node"],
        "connections": [{"target": "x"}, 7],
        "customNodes": [{"type": "c"}],
    }
    with pytest.raises(FlowDefinitionError) as raised:
        parse_flow(document)
    problems = raised.value.problems
    assert "workflow.nodes[0].id must be a non-empty string" in problems
    assert "workflow.nodes[1].type must be a non-empty string" in problems
    assert "workflow.nodes[1].data must be an object" in problems
    assert "workflow.nodes[2] must be an object" in problems
    assert any(p.startswith("workflow.connections[0] needs a source node id") for p in problems)
    assert "workflow.connections[1] must be an object" in problems
    assert "workflow.customNodes[0].executionCode must be a non-empty string of JavaScript" in problems


@pytest.mark.parametrize(
    ("document", "problem"),
    [
        ([], "workflow must be a JSON object with nodes and connections"),
        ({"nodes": {}, "edges": []}, "workflow.nodes must be an array of nodes"),
        ({"nodes": []}, "workflow must have connections or edges (an empty array is fine)"),
        ({"format": "clara-sdk", "flow": 3}, "workflow.flow must be an object with nodes and connections"),
    ],
)
def test_shapes_that_are_not_workflows(document: Any, problem: str) -> None:
    with pytest.raises(FlowDefinitionError) as raised:
        parse_flow(document)
    assert raised.value.problems == [problem]


def test_falsy_but_present_connections_key_is_accepted() -> None:
    assert parse_flow({"nodes": [STUDIO_NODE], "connections": None}).edges == ()


@pytest.mark.parametrize("path", sorted(WORKFLOWS.glob("*.json")), ids=lambda p: p.name)
def test_every_shared_studio_export_parses(path: Any) -> None:
    flow = parse_flow(shared_workflow(path.name))
    assert flow.nodes
    assert all(edge.source in flow.node_by_id and edge.target in flow.node_by_id for edge in flow.edges)
