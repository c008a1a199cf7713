from __future__ import annotations

import pytest

from clara_runner.flow.nodes.text import CombineTextNode, StaticTextNode
from tests.flow.nodes.calls import call_node


async def test_static_text_returns_its_text_on_the_text_port() -> None:
    assert await call_node(StaticTextNode(), {"text": "You are a summarizer   "}) == {"text": "You are a summarizer   "}
    assert await call_node(StaticTextNode(), {"value": "server style"}) == {"text": "server style"}


async def test_static_text_in_json_format_is_parsed() -> None:
    assert await call_node(StaticTextNode(), {"text": '{"k": 1}', "textFormat": "json"}) == {"text": {"k": 1}}


@pytest.mark.parametrize(
    ("data", "combined"),
    [
        ({}, "Hello World"),
        ({"addSpaces": False}, "HelloWorld"),
        ({"combineMode": "separator", "separator": "|"}, "Hello | World"),
        ({"combineMode": "separator", "separator": "|", "addSpaces": False}, "Hello|World"),
        ({"combineMode": "prefix"}, "World Hello"),
        ({"combineMode": "suffix", "addSpaces": False}, "HelloWorld"),
    ],
)
async def test_combine_text_modes(data: dict[str, object], combined: str) -> None:
    result = await call_node(CombineTextNode(), data, text1="Hello", text2="World")
    assert result["combined"] == combined
    assert result["metadata"]["combinedLength"] == len(combined)


async def test_combine_text_keeps_falsy_non_text_values() -> None:
    assert (await call_node(CombineTextNode(), {}, text1=0, text2=False))["combined"] == "0 false"


async def test_combine_text_with_no_text_reports_it() -> None:
    result = await call_node(CombineTextNode(), {"combineMode": "separator"})
    assert result == {
        "combined": "",
        "metadata": {"error": "No text inputs provided", "mode": "separator", "separator": "", "addSpaces": True},
    }
