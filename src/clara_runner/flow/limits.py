"""Deploy-time bounds on a workflow document, checked before it is parsed into a flow.

A workflow is stored, compiled, cached and shown in docs; these bounds keep one deploy from costing
the server more than a real Studio export ever needs. The largest shared Studio export has 16 nodes
and nests 8 levels as `MAX_WORKFLOW_DEPTH` counts them; the defaults leave two orders of magnitude of room:

* `MAX_WORKFLOW_NODES` (2,000) nodes and `MAX_WORKFLOW_CONNECTIONS` (10,000) connections;
* `MAX_WORKFLOW_DEPTH` (32) levels of JSON nesting;
* `MAX_WORKFLOW_STRING` (1,048,576) characters in any one string (an embedded image as base64 fits;
  raise it for larger ones), and 255 for ids and port names;
* no NUL character anywhere (PostgreSQL cannot store it, and no workflow needs it);
* `data.sensitive`, when present, is `true` or `false`.

Every problem is reported (up to `_MAX_REPORTED`), each with the JSON path where it was found.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final

_MAX_REPORTED: Final = 20
_MAX_IDENTIFIER: Final = 255
_IDENTIFIER_KEYS: Final = frozenset(
    {
        "id",
        "type",
        "source",
        "target",
        "sourceNodeId",
        "targetNodeId",
        "sourceHandle",
        "targetHandle",
        "sourcePortId",
        "targetPortId",
    }
)


@dataclass(frozen=True, slots=True)
class WorkflowLimits:
    max_nodes: int = 2_000
    max_connections: int = 10_000
    max_depth: int = 32
    max_string: int = 1_048_576


def _graph(document: Mapping[str, Any]) -> Mapping[str, Any]:
    inner = document.get("flow")
    return inner if "nodes" not in document and isinstance(inner, Mapping) else document


def _count_problems(document: Any, limits: WorkflowLimits) -> list[str]:
    if not isinstance(document, Mapping):
        return []
    graph = _graph(document)
    problems = []
    nodes = graph.get("nodes")
    if isinstance(nodes, list) and len(nodes) > limits.max_nodes:
        problems.append(
            f"workflow has {len(nodes)} nodes; this server deploys at most {limits.max_nodes} (MAX_WORKFLOW_NODES)"
        )
    for key in ("connections", "edges"):
        edges = graph.get(key)
        if isinstance(edges, list) and len(edges) > limits.max_connections:
            problems.append(
                f"workflow has {len(edges)} {key}; this server deploys at most {limits.max_connections} "
                "(MAX_WORKFLOW_CONNECTIONS)"
            )
    return problems


def _value_problems(document: Any, limits: WorkflowLimits) -> list[str]:
    """Depth, string sizes, NUL characters and `sensitive` flags, walking the document iteratively."""
    problems: list[str] = []
    stack: list[tuple[Any, str, int, str]] = [(document, "workflow", 0, "")]
    while stack and len(problems) <= _MAX_REPORTED:
        value, path, depth, key = stack.pop()
        if isinstance(value, str):
            problems.extend(_string_problems(value, path, key, limits))
        elif isinstance(value, Mapping | list):
            if depth >= limits.max_depth:
                problems.append(
                    f"{path} is nested more than {limits.max_depth} levels deep; flatten it (MAX_WORKFLOW_DEPTH)"
                )
                continue
            if isinstance(value, list):
                stack.extend((item, f"{path}[{index}]", depth + 1, "") for index, item in enumerate(value))
                continue
            if "sensitive" in value and not isinstance(value["sensitive"], bool):
                problems.append(f"{path}.sensitive must be true or false")
            for name, item in value.items():
                problems.extend(_string_problems(name, f"{path} key", "", limits))
                stack.append((item, f"{path}.{name[:40]}", depth + 1, name))
    return problems


def _string_problems(text: str, path: str, key: str, limits: WorkflowLimits) -> list[str]:
    problems = []
    if len(text) > limits.max_string:
        problems.append(
            f"{path} is {len(text)} characters long; strings in a workflow may have at most "
            f"{limits.max_string} (MAX_WORKFLOW_STRING)"
        )
    elif key in _IDENTIFIER_KEYS and len(text) > _MAX_IDENTIFIER:
        problems.append(f"{path} is {len(text)} characters long; ids and port names may have at most {_MAX_IDENTIFIER}")
    if "\x00" in text:
        problems.append(f"{path} contains a NUL character (\\u0000); remove it")
    return problems


def workflow_limit_problems(document: Any, limits: WorkflowLimits) -> list[str]:
    """Every way `document` exceeds `limits`; empty when it may go on to be parsed and checked."""
    problems = _count_problems(document, limits) + _value_problems(document, limits)
    if len(problems) > _MAX_REPORTED:
        problems = [
            *problems[:_MAX_REPORTED],
            f"... and more problems of the same kinds after the first {_MAX_REPORTED}",
        ]
    return problems
