from __future__ import annotations

from typing import Any

import pytest

from clara_runner.flow.errors import NodeError
from clara_runner.flow.nodes.jsonops import JsonParseNode, JsonStringifyNode
from tests.flow.nodes.calls import call_node


async def test_parse_returns_the_document() -> None:
    assert await call_node(JsonParseNode(), {}, input='{"a": {"b": [10, 20]}}') == {"output": {"a": {"b": [10, 20]}}}


@pytest.mark.parametrize(
    ("field", "expected"), [("a.b", [10, 20]), ("a.b.1", 20), ("a.missing", None), ("a.b.9", None)]
)
async def test_parse_extracts_a_dot_path(field: str, expected: Any) -> None:
    result = await call_node(JsonParseNode(), {"extractField": field}, input='{"a": {"b": [10, 20]}}')
    assert result == {"output": expected}


async def test_parse_accepts_the_original_servers_field_name_and_structures() -> None:
    assert await call_node(JsonParseNode(), {"field": "x"}, input={"x": 0}) == {"output": 0}


async def test_parse_errors_give_null_unless_fail_on_error() -> None:
    assert await call_node(JsonParseNode(), {}, input="{broken") == {"output": None}
    with pytest.raises(NodeError, match="JSON Parse Error"):
        await call_node(JsonParseNode(), {"failOnError": True}, input="{broken")


@pytest.mark.parametrize(
    ("data", "value", "expected"),
    [
        ({}, {"a": 1}, '{\n  "a": 1\n}'),
        ({"prettyPrint": False}, {"a": [1, 2]}, '{"a":[1,2]}'),
        ({"indent": 0}, {"a": 1}, '{"a":1}'),
        ({"indent": 99}, [1], "[\n        1\n]"),
        ({}, "already text", "already text"),
        ({}, None, ""),
        ({"nullFallback": "null"}, None, "null"),
        ({}, "ünïcode", "ünïcode"),
    ],
)
async def test_stringify(data: dict[str, Any], value: Any, expected: str) -> None:
    assert await call_node(JsonStringifyNode(), data, input=value) == {"output": expected}


async def test_stringify_with_nothing_connected_uses_the_fallback() -> None:
    assert await call_node(JsonStringifyNode(), {"nullFallback": "-"}) == {"output": "-"}
