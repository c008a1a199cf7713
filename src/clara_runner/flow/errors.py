"""Engine errors, split by phase: a definition problem is found before a run, a node failure during one.

The service layer translates them into the server's coded errors (`clara_runner.errors`); the engine
itself knows nothing of HTTP.
"""

from __future__ import annotations

from typing import ClassVar


class FlowError(Exception):
    """Root of every engine error."""


class FlowDefinitionError(FlowError):
    """The workflow JSON cannot run; `problems` lists every problem found, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class NodeFailed(FlowError):
    """A node raised while running; the run stops and reports which node and why.

    `code` is the `NodeError.code` that caused it (found through `raise ... from` chains too), so the
    service can tell an egress refusal or a node deadline from an ordinary failure.
    """

    def __init__(self, node_id: str, node_type: str, node_name: str, message: str, code: str = "node_error") -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.node_name = node_name
        self.reason = message
        self.code = code
        super().__init__(f"Node '{node_name}' ({node_type}) failed: {message}")


class NodeError(FlowError):
    """Raised by a node implementation to fail with a message meant for the API caller."""

    code: ClassVar[str] = "node_error"


class NodeTimedOut(NodeError):
    """The node ran past its own `timeoutMs` and was cancelled."""

    code = "node_timeout"


def explanation(exc: BaseException) -> NodeError | None:
    """The first `NodeError` in `exc`'s cause chain (a node, or a library it calls, may wrap one)."""
    seen: set[int] = set()
    current: BaseException | None = exc
    while current is not None and id(current) not in seen:
        if isinstance(current, NodeError):
            return current
        seen.add(id(current))
        current = current.__cause__ or current.__context__
    return None
