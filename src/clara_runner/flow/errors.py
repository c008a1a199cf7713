"""Engine errors, split by phase: a definition problem is found before a run, a node failure during one.

The service layer translates them into the server's coded errors (`clara_runner.errors`); the engine
itself knows nothing of HTTP.
"""

from __future__ import annotations


class FlowError(Exception):
    """Root of every engine error."""


class FlowDefinitionError(FlowError):
    """The workflow JSON cannot run; `problems` lists every problem found, not only the first."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("; ".join(problems))


class NodeFailed(FlowError):
    """A node raised while running; the run stops and reports which node and why."""

    def __init__(self, node_id: str, node_type: str, node_name: str, message: str) -> None:
        self.node_id = node_id
        self.node_type = node_type
        self.node_name = node_name
        self.reason = message
        super().__init__(f"Node '{node_name}' ({node_type}) failed: {message}")


class NodeError(FlowError):
    """Raised by a node implementation to fail with a message meant for the API caller."""
