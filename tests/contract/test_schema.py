from __future__ import annotations

from typing import Any

from clara_runner.contract.schema import Contract, build_contract
from clara_runner.flow.formats import parse_flow
from clara_runner.flow.plan import compile_flow
from tests.flow.probes import probe_registry


def contract_of(nodes: list[dict[str, Any]], links: list[tuple[str, str, str, str]]) -> Contract:
    document = {
        "nodes": nodes,
        "connections": [
            {"sourceNodeId": s, "sourcePortId": sp, "targetNodeId": t, "targetPortId": tp} for s, sp, t, tp in links
        ],
    }
    return build_contract(compile_flow(parse_flow(document), probe_registry()))


def test_inputs_are_typed_and_required_only_without_a_default() -> None:
    contract = contract_of(
        [
            {"id": "a", "type": "input", "data": {"label": "Name"}},
            {"id": "b", "type": "input", "data": {"label": "Count", "inputType": "number", "value": "3"}},
            {"id": "c", "type": "input", "data": {"label": "Config", "inputType": "json", "required": False}},
            {"id": "o", "type": "output", "data": {}},
        ],
        [("a", "output", "o", "input")],
    )
    schema = contract.input_schema
    assert schema["required"] == ["name"]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["count"]["type"] == "number"
    assert schema["properties"]["count"]["default"] == 3
    assert schema["properties"]["config"]["type"] == ["object", "array"]
    assert schema["properties"]["name"]["x-node-id"] == "a"


def test_output_types_come_from_format_or_the_feeding_port() -> None:
    contract = contract_of(
        [
            {"id": "s", "type": "static-text", "data": {"text": "x"}},
            {"id": "j", "type": "output", "data": {"outputLabel": "Data", "format": "json"}},
            {"id": "t", "type": "output", "data": {"outputLabel": "Text"}},
            {"id": "any", "type": "output", "data": {"outputLabel": "Any"}},
            {"id": "c", "type": "probe-constant", "data": {}},
        ],
        [("s", "text", "j", "input"), ("s", "text", "t", "input"), ("c", "output", "any", "input")],
    )
    properties = contract.output_schema["properties"]
    assert properties["data"]["type"] == "object"
    assert properties["text"]["type"] == "string"
    assert "type" not in properties["any"]


def test_outputs_behind_a_branch_are_not_required() -> None:
    contract = contract_of(
        [
            {"id": "i", "type": "input", "data": {"label": "In"}},
            {"id": "b", "type": "probe-branch", "data": {}},
            {"id": "always", "type": "output", "data": {"outputLabel": "Always"}},
            {"id": "maybe", "type": "output", "data": {"outputLabel": "Maybe"}},
        ],
        [("i", "output", "b", "input"), ("i", "output", "always", "input"), ("b", "yes", "maybe", "input")],
    )
    assert contract.output_schema["required"] == ["always"]


def test_contract_survives_storage() -> None:
    contract = contract_of(
        [{"id": "a", "type": "input", "data": {"label": "A", "value": "x"}}, {"id": "o", "type": "output", "data": {}}],
        [("a", "output", "o", "input")],
    )
    assert Contract.from_document(contract.to_document()) == contract
