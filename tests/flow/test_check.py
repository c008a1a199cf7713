from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.nodes import default_registry
from clara_runner.flow.plan import compile_flow


def problems_of(document: dict[str, Any]) -> list[str]:
    with pytest.raises(FlowDefinitionError) as raised:
        compile_flow(parse_flow(document), default_registry())
    return raised.value.problems


def node(node_id: str, node_type: str = "json-stringify", **data: Any) -> dict[str, Any]:
    return {"id": node_id, "type": node_type, "data": data}


def link(source: str, target: str, source_port: str = "output", target_port: str = "input") -> dict[str, str]:
    return {"sourceNodeId": source, "sourcePortId": source_port, "targetNodeId": target, "targetPortId": target_port}


def test_unknown_type_is_a_deploy_error_naming_the_nodes() -> None:
    problems = problems_of(
        {"nodes": [node("a", "teleport"), node("b", "teleport"), node("o", "output")], "connections": []}
    )
    assert problems == [
        "node 'a', 'b': unknown node type 'teleport'; declare it in customNodes or use one of the built-in types "
        "(see docs/NODES.md)"
    ]


def test_cycle_is_reported_with_its_node_ids() -> None:
    document = {
        "nodes": [node("i", "input"), node("a"), node("b"), node("c"), node("o", "output")],
        "connections": [link("i", "a"), link("a", "b"), link("b", "c"), link("c", "a"), link("c", "o")],
    }
    assert problems_of(document) == ["cycle between nodes 'a' -> 'b' -> 'c' -> 'a'; a workflow must be acyclic"]


def test_self_loop_is_reported() -> None:
    document = {"nodes": [node("a"), node("o", "output")], "connections": [link("a", "a"), link("a", "o")]}
    assert problems_of(document) == ["node 'a' is connected to itself; remove that connection"]


def test_missing_nodes_and_ports_are_reported_with_what_exists() -> None:
    document = {
        "nodes": [node("a"), node("o", "output")],
        "connections": [link("ghost", "o"), link("a", "o", target_port="nowhere"), link("a", "o", "bogus")],
    }
    assert problems_of(document) == [
        "connection 0 (ghost.output -> o.input): source node 'ghost' does not exist",
        "connection 1 (a.output -> o.nowhere): node 'o' (output) has no input port 'nowhere'; "
        "its input ports are: input",
        "connection 2 (a.bogus -> o.input): node 'a' (json-stringify) has no output port 'bogus'; "
        "its output ports are: output",
    ]


def test_duplicate_ids_no_nodes_and_no_output_are_reported_together() -> None:
    assert problems_of({"nodes": [], "connections": []}) == [
        "workflow has no nodes; add at least an input and an output node"
    ]
    problems = problems_of({"nodes": [node("a"), node("a")], "connections": []})
    assert problems == [
        "duplicate node id 'a' (nodes 0 and 1); ids must be unique",
        "workflow has no output node, so its API would return nothing; add an output node",
    ]


def test_custom_type_may_not_shadow_a_builtin() -> None:
    document = {
        "nodes": [node("o", "output")],
        "connections": [],
        "customNodes": [{"type": "input", "executionCode": "async function execute(){}"}],
    }
    assert "custom node type 'input' has the name of a built-in node type; rename it" in problems_of(document)


@pytest.mark.parametrize("port", ["input1", "TEXT1", "Text 1"])
def test_server_aliases_and_case_insensitive_port_names_resolve(port: str) -> None:
    document = {
        "nodes": [node("s", "static-text", text="x"), node("c", "combine-text"), node("o", "output")],
        "connections": [link("s", "c", "output", port), link("c", "o", "output")],
    }
    plan = compile_flow(parse_flow(document), default_registry())
    combine = plan.nodes[1]
    assert combine.in_edges == ((0, "text", "text1"),)
    assert plan.nodes[2].in_edges == ((1, "combined", "input"),)
