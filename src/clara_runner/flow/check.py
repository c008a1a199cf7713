"""Static problems of a flow, found before it ever runs, and reported all at once.

Unknown node types, duplicate ids, connections to missing nodes or ports, cycles and bad node
configuration are deploy-time errors, never runtime surprises.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass

from clara_runner.flow.deadlines import timeout_problems
from clara_runner.flow.model import Edge, Flow, Node
from clara_runner.flow.nodes.base import ApiRole, NodeType, find_port

_MAX_LISTED = 12


@dataclass(frozen=True, slots=True)
class ResolvedEdge:
    """A connection with both ports resolved to the canonical port ids of their node types."""

    index: int
    source: str
    source_port: str
    target: str
    target_port: str


def find_problems(flow: Flow, types: Mapping[str, NodeType], builtin_names: frozenset[str]) -> list[str]:
    """Every static problem of `flow`, each a sentence that says what to fix."""
    problems: list[str] = []
    if not flow.nodes:
        problems.append("workflow has no nodes; add at least an input and an output node")
    problems.extend(_duplicate_ids(flow))
    problems.extend(_custom_type_clashes(flow, builtin_names))
    known = _known_nodes(flow, types, problems)
    _, edge_problems = resolve_edges(flow, known)
    problems.extend(edge_problems)
    problems.extend(_cycles(flow))
    if known and not any(node_type.role is ApiRole.OUTPUT for node_type in known.values()):
        problems.append("workflow has no output node, so its API would return nothing; add an output node")
    for node in flow.nodes:
        problems.extend(f"node '{node.id}': {problem}" for problem in timeout_problems(node))
        node_type = known.get(node.id)
        if node_type is not None:
            problems.extend(f"node '{node.id}': {problem}" for problem in node_type.configuration_problems(node))
    return problems


def resolve_edges(flow: Flow, known: Mapping[str, NodeType]) -> tuple[list[ResolvedEdge], list[str]]:
    """Map each connection's port names onto the ports its node types declare."""
    resolved: list[ResolvedEdge] = []
    problems: list[str] = []
    for index, edge in enumerate(flow.edges):
        where = f"connection {index} ({edge.source}.{edge.source_port} -> {edge.target}.{edge.target_port})"
        source = flow.node_by_id.get(edge.source)
        target = flow.node_by_id.get(edge.target)
        if source is None:
            problems.append(f"{where}: source node '{edge.source}' does not exist")
        if target is None:
            problems.append(f"{where}: target node '{edge.target}' does not exist")
        if source is None or target is None:
            continue
        source_port = _port_id(source, known.get(source.id), edge, output=True, where=where, problems=problems)
        target_port = _port_id(target, known.get(target.id), edge, output=False, where=where, problems=problems)
        if source_port is not None and target_port is not None:
            resolved.append(ResolvedEdge(index, edge.source, source_port, edge.target, target_port))
    return resolved, problems


def _port_id(
    node: Node, node_type: NodeType | None, edge: Edge, *, output: bool, where: str, problems: list[str]
) -> str | None:
    if node_type is None:
        return None
    ports = node_type.output_ports(node) if output else node_type.input_ports(node)
    wanted = edge.source_port if output else edge.target_port
    port = find_port(ports, wanted)
    if port is not None:
        return port.id
    kind = "output" if output else "input"
    available = ", ".join(p.id for p in ports) or "none"
    problems.append(
        f"{where}: node '{node.id}' ({node.type}) has no {kind} port '{wanted}'; its {kind} ports are: {available}"
    )
    return None


def _duplicate_ids(flow: Flow) -> list[str]:
    seen: dict[str, int] = {}
    problems: list[str] = []
    for index, node in enumerate(flow.nodes):
        if node.id in seen:
            problems.append(f"duplicate node id '{node.id}' (nodes {seen[node.id]} and {index}); ids must be unique")
        else:
            seen[node.id] = index
    return problems


def _custom_type_clashes(flow: Flow, builtin_names: frozenset[str]) -> list[str]:
    return [
        f"custom node type '{definition.type}' has the name of a built-in node type; rename it"
        for definition in flow.custom_nodes
        if definition.type in builtin_names
    ]


def _known_nodes(flow: Flow, types: Mapping[str, NodeType], problems: list[str]) -> dict[str, NodeType]:
    known: dict[str, NodeType] = {}
    unknown: dict[str, list[str]] = {}
    for node in flow.nodes:
        node_type = types.get(node.type)
        if node_type is None:
            unknown.setdefault(node.type, []).append(node.id)
        else:
            known[node.id] = node_type
    custom = {definition.type for definition in flow.custom_nodes}
    for type_name, node_ids in unknown.items():
        ids = ", ".join(f"'{node_id}'" for node_id in node_ids[:_MAX_LISTED])
        if type_name in custom:
            problems.append(f"node {ids}: custom node type '{type_name}' cannot run on this server")
        else:
            hint = "declare it in customNodes or use one of the built-in types (see docs/NODES.md)"
            problems.append(f"node {ids}: unknown node type '{type_name}'; {hint}")
    return known


def _cycles(flow: Flow) -> list[str]:
    """One sentence per strongly connected component that contains a cycle, naming a cycle in it."""
    successors: dict[str, list[str]] = {node.id: [] for node in flow.nodes}
    for edge in flow.edges:
        if edge.source in successors and edge.target in successors:
            successors[edge.source].append(edge.target)
    problems = []
    for component in _strongly_connected(successors):
        if len(component) == 1:
            (node_id,) = component
            if node_id in successors[node_id]:
                problems.append(f"node '{node_id}' is connected to itself; remove that connection")
            continue
        path = _cycle_through(component, successors)
        problems.append("cycle between nodes " + " -> ".join(f"'{n}'" for n in path) + "; a workflow must be acyclic")
    return problems


def _strongly_connected(successors: Mapping[str, list[str]]) -> list[set[str]]:
    """Tarjan's algorithm, iterative so 10,000-node chains do not hit the recursion limit."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[set[str]] = []
    counter = 0
    for root in successors:
        if root in index:
            continue
        work: list[tuple[str, int]] = [(root, 0)]
        while work:
            node, position = work.pop()
            if position == 0:
                index[node] = low[node] = counter
                counter += 1
                stack.append(node)
                on_stack.add(node)
            children = successors[node]
            if position < len(children):
                work.append((node, position + 1))
                child = children[position]
                if child not in index:
                    work.append((child, 0))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                components.append(component)
            if work:
                parent = work[-1][0]
                low[parent] = min(low[parent], low[node])
    return components


def _cycle_through(component: set[str], successors: Mapping[str, list[str]]) -> list[str]:
    """The shortest cycle from the component's first node back to itself (breadth-first)."""
    start = next(node for node in successors if node in component)
    parents: dict[str, str] = {}
    queue = deque([start])
    while queue:
        node = queue.popleft()
        for child in successors[node]:
            if child not in component:
                continue
            if child == start:
                path = [node]
                while path[-1] != start:
                    path.append(parents[path[-1]])
                return [*reversed(path), start]
            if child not in parents:
                parents[child] = node
                queue.append(child)
    return [start, start]
