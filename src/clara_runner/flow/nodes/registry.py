"""Type string -> node type.

A registry is an object, not a module global, so tests build their own and nothing leaks between
them. Custom node types travel inside a workflow; `for_flow` returns a lookup that sees both the
built-in types and the flow's own, built by the factory the composition root plugs in.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from clara_runner.flow.model import CustomNodeDef, Flow
from clara_runner.flow.nodes.base import NodeType

CustomNodeFactory = Callable[[CustomNodeDef], NodeType]


class NodeTypeAlreadyRegistered(ValueError):
    pass


class NodeRegistry:
    def __init__(self, custom_factory: CustomNodeFactory | None = None) -> None:
        self._types: dict[str, NodeType] = {}
        self._custom_factory = custom_factory

    def register(self, node_type: NodeType, *aliases: str) -> None:
        names = (node_type.type_name, *aliases)
        clashes = [name for name in names if name in self._types]
        if clashes:
            raise NodeTypeAlreadyRegistered(f"node types already registered: {', '.join(clashes)}")
        for name in names:
            self._types[name] = node_type

    def get(self, type_name: str) -> NodeType | None:
        return self._types.get(type_name)

    def names(self) -> list[str]:
        return sorted(self._types)

    @property
    def supports_custom_nodes(self) -> bool:
        return self._custom_factory is not None

    def for_flow(self, flow: Flow) -> Mapping[str, NodeType]:
        """Every type this flow may use: built-ins, shadowed by the flow's own custom node types."""
        if not flow.custom_nodes or self._custom_factory is None:
            return self._types
        lookup = dict(self._types)
        for definition in flow.custom_nodes:
            lookup[definition.type] = self._custom_factory(definition)
        return lookup


def build_registry(
    node_types: Iterable[tuple[NodeType, tuple[str, ...]]], custom_factory: CustomNodeFactory | None = None
) -> NodeRegistry:
    registry = NodeRegistry(custom_factory)
    for node_type, aliases in node_types:
        registry.register(node_type, *aliases)
    return registry
