"""Token counts a node reports, read from its result so an execution can be accounted for.

LLM nodes return the provider's `usage` object (`prompt_tokens`, `completion_tokens`, `total_tokens`,
the OpenAI names, which the Anthropic path adopts too). A node type names where its result carries it
(`NodeType.usage_path`); the runner reads it there once per node that has one, and nothing for the others.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple


class TokenUsage(NamedTuple):
    prompt_tokens: int
    completion_tokens: int


def usage_at(result: Mapping[str, Any], path: Sequence[str]) -> TokenUsage | None:
    """The counts found under `path` in `result`, or None when the node reported none (a provider that sends
    no usage, a count that is not a whole number of tokens)."""
    value: Any = result
    for key in path:
        if not isinstance(value, Mapping):
            return None
        value = value.get(key)
    return reported_usage(value)


def reported_usage(usage: Any) -> TokenUsage | None:
    """A provider's `usage` object as counts: both counts must be non-negative integers."""
    if not isinstance(usage, Mapping):
        return None
    prompt, completion = _count(usage.get("prompt_tokens")), _count(usage.get("completion_tokens"))
    if prompt is None or completion is None:
        return None
    return TokenUsage(prompt, completion)


def _count(value: Any) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) and value >= 0 else None
