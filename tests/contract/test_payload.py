"""Request bodies are read strictly: every value a workflow gets can be stored and returned again."""

from __future__ import annotations

import json
import random
from typing import Any

import pytest

from clara_runner.contract.payload import parse_payload
from clara_runner.errors import ClaraError

PADDING = b'{"padding": "' + b"x" * 1_100_000 + b'", '
"""Makes a body large enough to be parsed a chunk at a time."""


def large(body: bytes) -> bytes:
    assert body.startswith(b"{")
    return PADDING + body[1:]


@pytest.mark.parametrize(
    ("body", "code", "says"),
    [
        (b'{"a": NaN}', "invalid_json_number", "NaN"),
        (b'{"a": Infinity}', "invalid_json_number", "Infinity"),
        (b'{"a": [-Infinity]}', "invalid_json_number", "-Infinity"),
        (b'{"a": 1e400}', "invalid_json_number", "out of range"),
        (b'{"a": -2e308}', "invalid_json_number", "out of range"),
        (b'{"a": ' + b"7" * 5000 + b"}", "invalid_json_number", "4300 digits"),
        (b'{"a": "\\ud800"}', "malformed_json", "surrogate"),
        (b'{"a": "x\\udc00y"}', "malformed_json", "surrogate"),
        (b'{"\\ud83d": 1}', "malformed_json", "surrogate"),
        (b'{"a": ', "malformed_json", "not valid JSON"),
    ],
)
@pytest.mark.parametrize("size", [bytes, large])
def test_values_json_cannot_carry_are_refused_with_what_to_fix(body: bytes, code: str, says: str, size: Any) -> None:
    with pytest.raises(ClaraError) as raised:
        parse_payload(size(body), "application/json")
    assert (raised.value.status, raised.value.code) == (400, code)
    assert says in raised.value.message


@pytest.mark.parametrize("size", [bytes, large])
def test_what_json_can_carry_is_read_exactly(size: Any) -> None:
    body = b'{"big": 123456789012345678901234567890, "pair": "\\ud83d\\ude00", "escaped": "\\\\ud800", "f": 1.5e300}'
    parsed = parse_payload(size(body), "application/json")
    parsed.pop("padding", None)
    assert parsed == {
        "big": 123456789012345678901234567890,
        "pair": "\U0001f600",
        "escaped": "\\ud800",
        "f": 1.5e300,
    }


def test_a_large_body_is_read_as_the_standard_parser_reads_it() -> None:
    """Floats in every spelling, text in every script, escapes, duplicate keys (the last wins), key order
    and the type of every number (compared through their JSON text)."""
    generator = random.Random(7)
    spellings = ",".join(
        f"{generator.randint(0, 10**17)}.{generator.randint(0, 10**6)}e{generator.randint(-300, 290)}"
        for _ in range(20_000)
    )
    value = {
        "floats": [generator.uniform(-1e6, 1e6) for _ in range(20_000)],
        "integers": [generator.randint(-(2**63), 2**63 - 1) for _ in range(20_000)],
        "texts": ['é漢字😀\\"\n\t\u2028\x01', "", "/"] * 10_000,
        "nested": [{"a": [None, True, False, {"b": []}]}] * 5_000,
    }
    body = json.dumps(value, ensure_ascii=False).encode()[:-1]
    body += b', "spellings": [' + spellings.encode() + b'], "texts": "last"}'
    assert len(body) > 1024 * 1024
    assert json.dumps(parse_payload(body, "application/json")) == json.dumps(json.loads(body))


def test_a_large_deeply_nested_body_gets_the_standard_parse_and_its_message() -> None:
    """The chunked parser's memory grows with the square of the depth: deep bodies never reach it."""
    for body in (large(b'{"a": ' + b"[" * 3_000 + b"]" * 3_000 + b"}"), b"[" * 600_000 + b"]" * 600_000):
        with pytest.raises(ClaraError) as raised:
            parse_payload(body, "application/json")
        assert raised.value.message == "Request body is nested too deeply to parse"


def test_a_large_body_with_trailing_text_is_refused() -> None:
    with pytest.raises(ClaraError) as raised:
        parse_payload(large(b'{"a": 1} {"b": 2}'), "application/json")
    assert "Extra data" in raised.value.message
