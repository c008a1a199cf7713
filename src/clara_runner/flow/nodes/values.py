"""Value conversions that Agent Studio performs implicitly in JavaScript, done explicitly here."""

from __future__ import annotations

import json
from typing import Any


def as_text(value: Any) -> str:
    """The text a JavaScript template literal would give, except that objects become JSON.

    `None` becomes "" (Studio writes `inputs.x || ''`), numbers print as JavaScript prints them
    (`1.0` -> "1"), and objects and arrays become JSON rather than "[object Object]".
    """
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, int | float):
        return str(value)
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"))


def parse_json_text(value: Any) -> Any:
    """`value` parsed if it is a string holding JSON; otherwise `value` unchanged."""
    if not isinstance(value, str):
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value


def to_number(value: Any) -> int | float:
    """JavaScript's `Number(v) || 0`: a number, integral ones as int; anything unparsable is 0."""
    if isinstance(value, bool):
        return int(value)
    if isinstance(value, int | float):
        number: float = value
    elif isinstance(value, str) and value.strip():
        try:
            number = float(value.strip())
        except ValueError:
            return 0
    else:
        return 0
    if number != number or number in (float("inf"), float("-inf")):
        return 0
    return int(number) if float(number).is_integer() else number
