"""Every JSON shape Agent Studio (or a person) produces, turned into one `Flow`.

Accepted shapes:
* flat `{nodes, connections}` or `{nodes, edges}`;
* export wrappers `{format: "clara-sdk" | "clara-native", flow: {...}, customNodes: [...]}`, with
  `customNodes` at the top level, inside `flow`, or both (they are merged);
* template wrappers `{id, name, category, ..., flow: {...}, customNodes?}`;
* connections in Studio form (`sourceNodeId/sourcePortId/targetNodeId/targetPortId`) or React-Flow
  form (`source/target/sourceHandle/targetHandle`, handles defaulting to `output`/`input`).

Problems are collected with the JSON path they were found at and raised together, so a person
fixes every one in one round trip.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.flow.errors import FlowDefinitionError
from clara_runner.flow.model import CustomNodeDef, Edge, Flow, Node, Port, PropertyDef


def parse_flow(document: Any, path: str = "workflow") -> Flow:
    """Parse any accepted workflow document; raise `FlowDefinitionError` listing every problem."""
    problems: list[str] = []
    if not isinstance(document, Mapping):
        raise FlowDefinitionError([f"{path} must be a JSON object with nodes and connections"])
    body, body_path = _unwrap(document, path)
    if body is None:
        raise FlowDefinitionError([f"{path}.flow must be an object with nodes and connections"])

    nodes = _parse_nodes(body.get("nodes"), f"{body_path}.nodes", problems)
    edges = _parse_edges(body, body_path, problems)
    custom_sources = [(document.get("customNodes"), f"{path}.customNodes")]
    if body is not document:
        custom_sources.append((body.get("customNodes"), f"{body_path}.customNodes"))
    custom = _parse_custom_nodes(custom_sources, problems)
    if problems:
        raise FlowDefinitionError(problems)
    return Flow(
        nodes=tuple(nodes),
        edges=tuple(edges),
        custom_nodes=tuple(custom),
        name=_text(body.get("name")) or _text(document.get("name")),
        description=_text(body.get("description")) or _text(document.get("description")),
    )


def _unwrap(document: Mapping[str, Any], path: str) -> tuple[Mapping[str, Any] | None, str]:
    if "nodes" in document:
        return document, path
    inner = document.get("flow")
    if isinstance(inner, Mapping):
        return inner, f"{path}.flow"
    return None, path


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _identifier(value: Any) -> str | None:
    """Ids are strings; integers are accepted because hand-written flows use them."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return str(value)
    if isinstance(value, str) and value.strip():
        return value
    return None


def _parse_nodes(raw: Any, path: str, problems: list[str]) -> list[Node]:
    if not isinstance(raw, list):
        problems.append(f"{path} must be an array of nodes")
        return []
    nodes: list[Node] = []
    for index, item in enumerate(raw):
        node_path = f"{path}[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{node_path} must be an object")
            continue
        node_id = _identifier(item.get("id"))
        node_type = item.get("type")
        data = item.get("data", {})
        count = len(problems)
        if node_id is None:
            problems.append(f"{node_path}.id must be a non-empty string")
        if not isinstance(node_type, str) or not node_type.strip():
            problems.append(f"{node_path}.type must be a non-empty string")
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            problems.append(f"{node_path}.data must be an object")
        name = item.get("name", "")
        if name is not None and not isinstance(name, str):
            problems.append(f"{node_path}.name must be a string")
        inputs = _parse_ports(item.get("inputs"), f"{node_path}.inputs", problems)
        outputs = _parse_ports(item.get("outputs"), f"{node_path}.outputs", problems)
        if len(problems) == count:
            assert node_id is not None
            assert isinstance(node_type, str)
            assert isinstance(data, Mapping)
            nodes.append(Node(node_id, node_type, name or "", dict(data), inputs, outputs))
    return nodes


def _parse_ports(raw: Any, path: str, problems: list[str]) -> tuple[Port, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{path} must be an array of ports")
        return ()
    ports: list[Port] = []
    for index, item in enumerate(raw):
        port_id = _identifier(item.get("id")) if isinstance(item, Mapping) else None
        if port_id is None or not isinstance(item, Mapping):
            problems.append(f"{path}[{index}] must be an object with a string id")
            continue
        name = item.get("name")
        data_type = item.get("dataType")
        ports.append(
            Port(
                port_id,
                name if isinstance(name, str) and name else port_id,
                data_type if isinstance(data_type, str) else "any",
            )
        )
    return tuple(ports)


def _parse_edges(body: Mapping[str, Any], path: str, problems: list[str]) -> list[Edge]:
    key = "connections" if "connections" in body else "edges"
    raw = body.get(key)
    if raw is None:
        if "connections" in body or "edges" in body:
            return []
        problems.append(f"{path} must have connections or edges (an empty array is fine)")
        return []
    if not isinstance(raw, list):
        problems.append(f"{path}.{key} must be an array")
        return []
    edges: list[Edge] = []
    for index, item in enumerate(raw):
        edge_path = f"{path}.{key}[{index}]"
        if not isinstance(item, Mapping):
            problems.append(f"{edge_path} must be an object")
            continue
        source = _identifier(_first(item, "sourceNodeId", "source"))
        target = _identifier(_first(item, "targetNodeId", "target"))
        source_port = _identifier(_first(item, "sourcePortId", "sourceHandle")) or "output"
        target_port = _identifier(_first(item, "targetPortId", "targetHandle")) or "input"
        if source is None:
            problems.append(f"{edge_path} needs a source node id (sourceNodeId or source)")
        if target is None:
            problems.append(f"{edge_path} needs a target node id (targetNodeId or target)")
        if source is not None and target is not None:
            edges.append(Edge(source, source_port, target, target_port))
    return edges


def _first(item: Mapping[str, Any], *keys: str) -> Any:
    for key in keys:
        value = item.get(key)
        if value is not None:
            return value
    return None


def _parse_custom_nodes(sources: list[tuple[Any, str]], problems: list[str]) -> list[CustomNodeDef]:
    definitions: dict[str, CustomNodeDef] = {}
    for raw, path in sources:
        if raw is None:
            continue
        if not isinstance(raw, list):
            problems.append(f"{path} must be an array")
            continue
        for index, item in enumerate(raw):
            definition = _parse_custom_node(item, f"{path}[{index}]", problems)
            if definition is not None:
                definitions.setdefault(definition.type, definition)
    return list(definitions.values())


def _parse_custom_node(item: Any, path: str, problems: list[str]) -> CustomNodeDef | None:
    if not isinstance(item, Mapping):
        problems.append(f"{path} must be an object")
        return None
    node_type = item.get("type")
    code = item.get("executionCode")
    count = len(problems)
    if not isinstance(node_type, str) or not node_type.strip():
        problems.append(f"{path}.type must be a non-empty string")
    if not isinstance(code, str) or not code.strip():
        problems.append(f"{path}.executionCode must be a non-empty string of JavaScript")
    inputs = _parse_ports(item.get("inputs"), f"{path}.inputs", problems)
    outputs = _parse_ports(item.get("outputs"), f"{path}.outputs", problems)
    properties = _parse_properties(item.get("properties"), f"{path}.properties", problems)
    if len(problems) != count:
        return None
    assert isinstance(node_type, str)
    assert isinstance(code, str)
    return CustomNodeDef(
        type=node_type,
        name=_text(item.get("name")) or node_type,
        inputs=inputs,
        outputs=outputs,
        properties=properties,
        execution_code=code,
        description=_text(item.get("description")),
    )


def _parse_properties(raw: Any, path: str, problems: list[str]) -> tuple[PropertyDef, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        problems.append(f"{path} must be an array")
        return ()
    properties: list[PropertyDef] = []
    for index, item in enumerate(raw):
        prop_id = _identifier(item.get("id")) if isinstance(item, Mapping) else None
        if prop_id is None or not isinstance(item, Mapping):
            problems.append(f"{path}[{index}] must be an object with a string id")
            continue
        name = item.get("name")
        properties.append(
            PropertyDef(prop_id, name if isinstance(name, str) and name else prop_id, item.get("defaultValue"))
        )
    return tuple(properties)
