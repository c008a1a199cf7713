"""Request bodies are read strictly: every value a workflow gets can be stored and returned again."""

from __future__ import annotations

import pytest

from clara_runner.contract.payload import parse_payload
from clara_runner.errors import ClaraError


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
def test_values_json_cannot_carry_are_refused_with_what_to_fix(body: bytes, code: str, says: str) -> None:
    with pytest.raises(ClaraError) as raised:
        parse_payload(body, "application/json")
    assert (raised.value.status, raised.value.code) == (400, code)
    assert says in raised.value.message


def test_what_json_can_carry_is_read_exactly() -> None:
    body = b'{"big": 123456789012345678901234567890, "pair": "\\ud83d\\ude00", "escaped": "\\\\ud800", "f": 1.5e300}'
    assert parse_payload(body, "application/json") == {
        "big": 123456789012345678901234567890,
        "pair": "\U0001f600",
        "escaped": "\\ud800",
        "f": 1.5e300,
    }
