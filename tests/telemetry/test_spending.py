from __future__ import annotations

import pytest

from clara_runner.telemetry.spending import parse_prices


def test_a_call_is_priced_by_the_answering_model_then_the_asked_one_then_any() -> None:
    table = parse_prices('{"gpt-4o": {"prompt": 2.5, "completion": 10}, "*": {"prompt": 1, "completion": 0}}')
    assert table is not None
    assert table.cost_micros(("gpt-4o-2024", "gpt-4o"), 1000, 100) == 3500
    assert table.cost_micros(("gpt-4o", "other"), 1000, 100) == 3500
    assert table.cost_micros((None, "llama"), 1000, 100) == 1000
    assert parse_prices('{"gpt-4o": {"prompt": 1, "completion": 1}}').cost_micros(("x", "y"), 1, 1) is None  # type: ignore[union-attr]
    assert parse_prices("  ") is None


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("{", "USAGE_PRICES is not JSON"),
        ("[]", "USAGE_PRICES must be an object of models"),
        ('{"m": {"prompt": -1, "completion": 1}}', "USAGE_PRICES['m'] must be"),
        ('{"m": {"prompt": 1}}', "USAGE_PRICES['m'] must be"),
    ],
)
def test_a_malformed_table_says_what_to_fix(text: str, problem: str) -> None:
    with pytest.raises(ValueError, match=problem.replace("[", r"\[").replace("]", r"\]")):
        parse_prices(text)
