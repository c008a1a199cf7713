"""`{{variable}}` templates in node properties, and the input ports they imply.

Hand-written flows (the `example-flows` of the original repository) put a template such as
`"Summarise {{topic}}"` in `data.prompt` or `data.url` and connect values to ports named after the
variables. A node type that accepts such a template exposes one extra input port per variable
(`template_ports`) and fills the template with the values that arrived (`fill`); a variable with no
value becomes empty text.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

from clara_runner.flow.model import Node
from clara_runner.flow.nodes.base import PortSpec
from clara_runner.flow.nodes.values import as_text

_VARIABLE = re.compile(r"\{\{\s*([A-Za-z_][\w.-]*)\s*\}\}")


def template_variables(template: Any) -> list[str]:
    """The distinct variable names of `template`, in order of first appearance."""
    if not isinstance(template, str):
        return []
    return list(dict.fromkeys(match.group(1) for match in _VARIABLE.finditer(template)))


def template_ports(node: Node, keys: Sequence[str], static: Sequence[PortSpec]) -> tuple[PortSpec, ...]:
    """`static` plus one port per variable of the templates in `node.data[key]` for `keys`.

    A variable named like an existing port id reuses that port. The variable ports come first, so a
    connection to `input` reaches the variable `input` rather than a port that merely aliases it.
    """
    taken = {port.id for port in static}
    variables = [name for key in keys for name in template_variables(node.data.get(key))]
    extra = tuple(
        PortSpec(name, name, "any", description="template variable")
        for name in dict.fromkeys(variables)
        if name not in taken
    )
    return (*extra, *static)


def fill(template: str, values: Mapping[str, Any], encode: Callable[[str], str] = str) -> str:
    """`template` with each `{{name}}` replaced by `encode(as_text(values[name]))`, missing ones by ""."""

    def replace(match: re.Match[str]) -> str:
        name = match.group(1)
        return encode(as_text(values.get(name))) if name in values else ""

    return _VARIABLE.sub(replace, template)
