"""What a node type is: its ports, its property defaults, its role in the API, and how it runs.

A node type is a small class; an instance is registered once in a `NodeRegistry` and shared by every
run, so it must keep no per-run state. Per-run values arrive in a `NodeCall`.
"""

from __future__ import annotations

import enum
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Final

if TYPE_CHECKING:
    from clara_runner.flow.context import RunContext
    from clara_runner.flow.model import Node


class _Missing(enum.Enum):
    MISSING = "MISSING"

    def __repr__(self) -> str:
        return "MISSING"


MISSING: Final = _Missing.MISSING
"""No value at all, as opposed to a falsy one (`0`, `""`, `False`, `None`), which is kept."""


class ApiRole(enum.Enum):
    """Whether a node becomes a field of the deployed API."""

    NONE = "none"  #: internal node
    INPUT = "input"  #: its value comes from the request body
    OUTPUT = "output"  #: its value goes into the response `outputs`


@dataclass(frozen=True, slots=True)
class PortSpec:
    """A port of a node type. `aliases` are other ids connections may use for it (server compatibility)."""

    id: str
    name: str
    data_type: str = "any"
    aliases: tuple[str, ...] = ()
    description: str = ""

    def answers_to(self, wanted: str) -> bool:
        lowered = wanted.lower()
        return wanted == self.id or wanted in self.aliases or lowered == self.id.lower() or lowered == self.name.lower()


def find_port(ports: Sequence[PortSpec], wanted: str) -> PortSpec | None:
    """The port a connection means: exact id first, then an alias, then a case-insensitive name."""
    for port in ports:
        if port.id == wanted:
            return port
    for port in ports:
        if port.answers_to(wanted):
            return port
    return None


@dataclass(slots=True)
class NodeCall:
    """One invocation of a node: the node, the values on its connected input ports, the run context."""

    node: Node
    node_type: NodeType
    inputs: dict[str, Any]
    context: RunContext
    external: Any = MISSING
    """For API input nodes: the value the request supplied, else `MISSING`."""

    def prop(self, name: str) -> Any:
        """A property of the node: the value in `node.data`, else the type's default.

        Only an absent or null value falls back; `0`, `""` and `False` are the user's choice.
        """
        value = self.node.data.get(name)
        if value is None:
            return self.node_type.defaults.get(name)
        return value

    def text_prop(self, name: str) -> str:
        """A string property; an empty string means "not set" here, as Studio's `||` does for text."""
        value = self.prop(name)
        if value is None or value == "":
            default = self.node_type.defaults.get(name, "")
            return "" if default is None else str(default)
        return value if isinstance(value, str) else str(value)


class NodeType(ABC):
    """A kind of node. Subclasses set the class attributes and implement `run`."""

    type_name: ClassVar[str]
    title: ClassVar[str] = ""
    description: ClassVar[str] = ""
    inputs: Sequence[PortSpec] = ()
    outputs: Sequence[PortSpec] = ()
    defaults: Mapping[str, Any] = {}
    role: ClassVar[ApiRole] = ApiRole.NONE
    inline: ClassVar[bool] = False
    """True for pure, fast nodes: the runner awaits them directly instead of scheduling a task."""
    branches: ClassVar[bool] = False
    """True when some output ports may produce nothing (so nodes downstream may be skipped)."""
    usage_path: ClassVar[tuple[str, ...]] = ()
    """Where the node's result carries the token counts it spent (`flow/usage.py`); empty for none."""

    def input_ports(self, node: Node) -> Sequence[PortSpec]:
        """The input ports of this node; a type whose ports depend on its configuration overrides it."""
        del node
        return self.inputs

    def output_ports(self, node: Node) -> Sequence[PortSpec]:
        del node
        return self.outputs

    def api_schema(self, node: Node) -> dict[str, Any]:
        """JSON Schema of the API field an INPUT or OUTPUT node becomes."""
        del node
        return {}

    def api_default(self, node: Node) -> Any:
        """The value an INPUT node uses when the caller sends none (`MISSING`: the field is required)."""
        del node
        return MISSING

    def api_optional(self, node: Node) -> bool:
        """True when an INPUT node can run without an API value although `api_default` gives none to
        document (a file saved in the workflow, too large to print as a schema default)."""
        del node
        return False

    def configuration_problems(self, node: Node) -> list[str]:
        """Static problems with the node's configuration, reported at deploy."""
        del node
        return []

    @abstractmethod
    async def run(self, call: NodeCall) -> Mapping[str, Any]:
        """Run once and return values by output port id.

        A port absent from the result produced nothing: connections from it are inactive, and a node
        whose every incoming connection is inactive is skipped (that is how `if-else` branches).
        """
