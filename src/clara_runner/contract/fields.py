"""API field names for input and output nodes.

Names follow the original server's `generateFieldName` rule, so `"User Name"` becomes `userName`.
Where the original fell back to the node id (a Studio node with no label), the node's name is tried
first, and two nodes that would share a name get numeric suffixes instead of silently overwriting
each other; every such rename is reported as a warning at deploy.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

from clara_runner.flow.model import Node

_NOT_WORD = re.compile(r"[^A-Za-z0-9_\s-]")
_SPACE_THEN_CHAR = re.compile(r"\s+(.)")
_NOT_ALNUM = re.compile(r"[^A-Za-z0-9]")


def field_name(label: str, fallback: str = "input") -> str:
    """The reference rule: strip symbols, camel-case at whitespace, drop what is not ASCII alphanumeric;
    `fallback` when nothing is left (the reference always used "input", outputs included)."""
    name = _NOT_WORD.sub("", label.strip())
    name = _SPACE_THEN_CHAR.sub(lambda match: match.group(1).upper(), name)
    if name[:1].isupper():
        name = name[0].lower() + name[1:]
    return _NOT_ALNUM.sub("", name) or fallback


def input_label(node: Node) -> str:
    return _first_text(node.data.get("label"), node.data.get("inputLabel"), node.name, node.id)


def output_label(node: Node) -> str:
    return _first_text(node.data.get("outputLabel"), node.data.get("label"), node.name, node.id)


def _first_text(*candidates: object) -> str:
    for candidate in candidates:
        if isinstance(candidate, str) and candidate.strip():
            return candidate
    return ""


@dataclass(frozen=True, slots=True)
class NamedNode:
    field: str
    node: Node
    label: str


def assign_names(nodes: Iterable[Node], *, outputs: bool) -> tuple[list[NamedNode], list[str]]:
    """A unique field name per node, in flow order, and a warning for each name that had to change."""
    named: list[NamedNode] = []
    warnings: list[str] = []
    owners: dict[str, str] = {}
    kind = "output" if outputs else "input"
    for node in nodes:
        label = output_label(node) if outputs else input_label(node)
        base = field_name(label, kind)
        name = base
        suffix = 2
        while name in owners:
            name = f"{base}{suffix}"
            suffix += 1
        if name != base:
            warnings.append(
                f"{kind} field name '{base}' is used by node '{owners[base]}', so node '{node.id}' "
                f"is exposed as '{name}'; give the nodes distinct labels to choose the names"
            )
        owners[name] = node.id
        named.append(NamedNode(name, node, label))
    return named, warnings
