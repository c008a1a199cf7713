"""Per-node deadlines: any node may carry `data.timeoutMs`, and the runner cancels it past that.

The property is generic (every node type, built-in or custom, honours it) because the runner
enforces it around `NodeType.run`, not the node itself. Cancelling the node's task also cancels
whatever it awaits, an outbound HTTP request included: the connection is closed, not left to
finish in the background.
"""

from __future__ import annotations

from typing import Any, Final

from clara_runner.flow.model import Node

TIMEOUT_PROPERTY: Final = "timeoutMs"
MAX_NODE_TIMEOUT_MS: Final = 24 * 60 * 60 * 1000


def _milliseconds(value: Any) -> float | None:
    valid = isinstance(value, int | float) and not isinstance(value, bool) and 0 < value <= MAX_NODE_TIMEOUT_MS
    return float(value) if valid else None


def node_timeout(node: Node) -> float | None:
    """The node's own time limit in seconds, or None when it has none (the run's deadline still applies)."""
    milliseconds = _milliseconds(node.data.get(TIMEOUT_PROPERTY))
    return None if milliseconds is None else milliseconds / 1000


def timeout_problems(node: Node) -> list[str]:
    """Deploy-time check of `data.timeoutMs`: absent, null, or a positive number of milliseconds."""
    value = node.data.get(TIMEOUT_PROPERTY)
    if value is None or _milliseconds(value) is not None:
        return []
    return [
        f"data.{TIMEOUT_PROPERTY} must be a positive number of milliseconds up to {MAX_NODE_TIMEOUT_MS} "
        f"(got {value!r:.60})"
    ]
