from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import MISSING
from clara_runner.flow.nodes.io import InputNode, OutputNode
from tests.flow.nodes.calls import call_node


@pytest.mark.parametrize("sent", [0, "", False, None, "Alice"])
async def test_input_keeps_whatever_the_caller_sent(sent: Any) -> None:
    assert await call_node(InputNode(), {"value": "saved"}, external=sent) == {"output": sent}


async def test_input_falls_back_to_its_saved_value_then_empty_text() -> None:
    assert await call_node(InputNode(), {"value": "saved"}) == {"output": "saved"}
    assert await call_node(InputNode(), {}) == {"output": ""}


@pytest.mark.parametrize(("raw", "number"), [("42", 42), ("2.5", 2.5), (7, 7), ("abc", 0), ("", 0), (True, 1)])
async def test_number_input_converts_like_javascript_number(raw: Any, number: Any) -> None:
    result = await call_node(InputNode(), {"inputType": "number"}, external=raw)
    assert result == {"output": number}
    assert type(result["output"]) is type(number)


async def test_json_input_parses_text_and_keeps_structures() -> None:
    assert await call_node(InputNode(), {"inputType": "json", "value": '{"a": [1]}'}) == {"output": {"a": [1]}}
    assert await call_node(InputNode(), {"inputType": "json"}, external={"b": 2}) == {"output": {"b": 2}}
    assert await call_node(InputNode(), {"inputType": "json"}, external="not json") == {"output": "not json"}


def test_input_api_schema_and_default_follow_its_type() -> None:
    node_type = InputNode()
    number = Node("n", "input", "", {"inputType": "number", "value": "5"})
    assert node_type.api_schema(number)["type"] == "number"
    assert node_type.api_default(number) == 5
    assert node_type.api_default(Node("n", "input", "", {})) is MISSING
    assert node_type.api_default(Node("n", "input", "", {"value": "x", "required": True})) is MISSING


@pytest.mark.parametrize(
    ("output_format", "value", "expected"),
    [
        ("auto", {"a": 1}, {"a": 1}),
        ("raw", 0, 0),
        ("json", '{"a": 1}', {"a": 1}),
        ("json", "plain words", "plain words"),
        ("text", {"a": 1}, '{"a":1}'),
        ("text", 3.0, "3"),
        ("text", False, "false"),
    ],
)
async def test_output_shapes_its_value_by_format(output_format: str, value: Any, expected: Any) -> None:
    assert await call_node(OutputNode(), {"format": output_format}, input=value) == {"output": expected}


async def test_output_with_nothing_connected_produces_nothing() -> None:
    assert await call_node(OutputNode(), {}) == {}
