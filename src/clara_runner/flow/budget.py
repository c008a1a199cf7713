"""A run's memory budget: every value a node produces is measured as it is produced.

A workflow can build large values quickly (24 chained `combine-text` nodes fed "ab" reach 32 MB; a
chain of 2,000 with fan-in outgrew the host), and the outputs' own limit is checked only at the end.
So each value a node hands on is measured when the node returns it: no single value may exceed
`max_value` and the distinct values a run holds may not exceed `max_total` together; the first node
to cross either fails the run with `value_too_large`, naming it, while the values are still bounded
by one step of growth.

Sizes are those of the value's JSON text (strings by their length), measured once per object: a value
passed along unchanged through many nodes is counted once.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import orjson

from clara_runner.flow.errors import NodeError


class ValueTooLarge(NodeError):
    """A node produced a value larger than the run's budget allows."""

    code = "value_too_large"


@dataclass(frozen=True, slots=True)
class ValueLimits:
    max_value: int = 10 * 1024 * 1024
    """Largest single value a node may produce, in characters of JSON."""
    max_total: int = 256 * 1024 * 1024
    """Largest sum of the distinct values one run holds, in characters of JSON."""


def json_size(value: Any) -> int:
    """The length of `value`'s JSON text (strings: their length plus quotes)."""
    if isinstance(value, str):
        return len(value) + 2
    try:
        return len(orjson.dumps(value, default=str))
    except (orjson.JSONEncodeError, TypeError):
        return len(json.dumps(value, default=str))


class ValueBudget:
    """One run's account of the values its nodes produced."""

    def __init__(self, limits: ValueLimits) -> None:
        self._limits = limits
        self._sizes: dict[int, tuple[int, Any]] = {}
        """id -> (size, the value itself, kept so that its id is not reused by another object)."""
        self.total = 0

    def charge(self, value: Any) -> int:
        """Count `value` (once per object) and return its size; `ValueTooLarge` past either limit."""
        known = self._sizes.get(id(value))
        if known is not None:
            return known[0]
        size = json_size(value)
        if size > self._limits.max_value:
            raise ValueTooLarge(
                f"the node produced a value of {size:,} characters, more than the {self._limits.max_value:,} "
                "one value may hold (MAX_VALUE_SIZE)"
            )
        self.total += size
        if self.total > self._limits.max_total:
            raise ValueTooLarge(
                f"the run's values reached {self.total:,} characters, more than the {self._limits.max_total:,} "
                "one run may hold (MAX_RUN_VALUES_SIZE)"
            )
        self._sizes[id(value)] = (size, value)
        return size
