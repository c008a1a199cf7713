"""JSON values: written the one way the server writes them (compact UTF-8, by orjson), and walked fast.

A run's outputs are encoded once and that text is what the size check measures, the execution row
stores and the response carries. orjson refuses a few values the standard library takes (integers
beyond 64 bits, text with lone surrogates); those are encoded by `json` instead, as ASCII with escapes.
Values that are not JSON (a date, a set) are written as their `str()`.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any, Final, TypeVar

import orjson


def dumps(value: Any) -> bytes:
    try:
        return orjson.dumps(value, default=str)
    except (orjson.JSONEncodeError, TypeError):
        return json.dumps(value, separators=(",", ":"), default=str).encode()


_Item = TypeVar("_Item")

WALK_SLICE: Final = 4096
"""Items per C-speed operation over a flat list. Each such call holds the GIL, and another thread (the
event loop's) can take it only between two: a slice keeps that wait well under a millisecond."""

_SCALARS = frozenset({int, float, bool, type(None)})
_FLAT = _SCALARS | {str}


def flat_texts(items: list[Any] | tuple[Any, ...]) -> list[str] | tuple[str, ...] | None:
    """The strings of a list that holds no container, or None when it holds one.

    Walks over request values (sanitising, secret search, redaction) hand such a list to a few C-speed
    operations over all its strings at once instead of visiting each one: a legal body may be millions
    of short values, and a visit in Python costs a microsecond each.
    """
    kinds: set[type] = set()
    for part in slices(items):
        kinds.update(map(type, part))
    if not kinds <= _FLAT:
        return None
    if kinds <= {str}:
        return items
    return [item for item in items if type(item) is str]


def slices(items: Sequence[_Item]) -> Iterator[Sequence[_Item]]:
    """`items` a `WALK_SLICE` at a time."""
    return (items[start : start + WALK_SLICE] for start in range(0, len(items), WALK_SLICE))
