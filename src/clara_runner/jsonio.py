"""JSON values: written the one way the server writes them (compact UTF-8, by orjson), and walked fast.

A run's outputs are encoded once and that text is what the size check measures, the execution row
stores and the response carries. orjson refuses a few values the standard library takes (integers
beyond 64 bits, text with lone surrogates); those are encoded by `json` instead, as ASCII with escapes.
Values that are not JSON (a date, a set) are written as their `str()`.
"""

from __future__ import annotations

import json
from typing import Any

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), default=str).encode()


_SCALARS = frozenset({int, float, bool, type(None)})


def only_scalars(items: list[Any] | tuple[Any, ...]) -> bool:
    """True when `items` holds no text and no container. Walks over request values (sanitising, secret
    search, redaction) skip such lists whole, at C speed: a legal body may be millions of numbers."""
    return set(map(type, items)) <= _SCALARS
