"""The parsed, normalised shape of a workflow.

Every accepted JSON dialect (`formats.py`) becomes these immutable values, so the checker, the
planner and the contract generator deal with one vocabulary: nodes with ports, and edges from an
output port to an input port.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class Port:
    """A port as the exported node (or a custom node definition) declares it."""

    id: str
    name: str
    data_type: str = "any"


@dataclass(frozen=True, slots=True)
class Node:
    id: str
    type: str
    name: str
    data: Mapping[str, Any]
    inputs: tuple[Port, ...] = ()
    outputs: tuple[Port, ...] = ()

    @property
    def label(self) -> str:
        """What a person called this node: its label, else its name, else its id."""
        label = self.data.get("label")
        return label if isinstance(label, str) and label.strip() else (self.name or self.id)


@dataclass(frozen=True, slots=True)
class Edge:
    source: str
    source_port: str
    target: str
    target_port: str


@dataclass(frozen=True, slots=True)
class PropertyDef:
    """A custom node's configurable property (Studio keys instance values by property id)."""

    id: str
    name: str
    default: Any = None


@dataclass(frozen=True, slots=True)
class CustomNodeDef:
    """A node type shipped inside the workflow, with its JavaScript `executionCode`."""

    type: str
    name: str
    inputs: tuple[Port, ...]
    outputs: tuple[Port, ...]
    properties: tuple[PropertyDef, ...]
    execution_code: str
    description: str = ""


@dataclass(frozen=True, slots=True)
class Flow:
    nodes: tuple[Node, ...]
    edges: tuple[Edge, ...]
    custom_nodes: tuple[CustomNodeDef, ...] = ()
    name: str = ""
    description: str = ""
    node_by_id: Mapping[str, Node] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "node_by_id", {node.id: node for node in self.nodes})
