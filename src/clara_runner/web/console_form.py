"""The test console's form: one control per input field of the deployment's API, chosen from its schema."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Literal

from clara_runner.contract.media import is_file_field
from clara_runner.contract.schema import ApiField, value_types
from clara_runner.flow.nodes.base import MISSING

Kind = Literal["file", "number", "integer", "boolean", "json", "text"]


@dataclass(frozen=True, slots=True)
class Control:
    name: str
    label: str
    kind: Kind
    required: bool
    description: str
    accept: str
    """For a file: the media types its picker offers (empty: any file)."""
    initial: str
    """The field's default as the control shows it (empty when it has none)."""
    example: str
    """The schema's first example, shown as the control's placeholder (empty for files and when none)."""


def controls(fields: Sequence[ApiField]) -> list[Control]:
    return [_control(api_field) for api_field in fields]


def _control(api_field: ApiField) -> Control:
    schema = api_field.schema
    kind = _kind(api_field)
    media = schema.get("contentMediaType")
    default = api_field.default
    if default is MISSING or default is None:
        initial = ""
    elif kind == "json":
        initial = json.dumps(default, indent=2)
    else:
        initial = str(default).lower() if isinstance(default, bool) else str(default)
    return Control(
        name=api_field.name,
        label=api_field.label or api_field.name,
        kind=kind,
        required=api_field.required,
        description=str(schema.get("description") or ""),
        accept=media if isinstance(media, str) and kind == "file" else "",
        initial=initial,
        example=_example(schema, kind),
    )


def _example(schema: Mapping[str, Any], kind: Kind) -> str:
    examples = schema.get("examples")
    if kind == "file" or not isinstance(examples, list) or not examples:
        return ""
    first = examples[0]
    return first if isinstance(first, str) else json.dumps(first)


def _kind(api_field: ApiField) -> Kind:
    if is_file_field(api_field.schema):
        return "file"
    types = value_types(api_field.schema)
    if types == frozenset({"number"}):
        return "number"
    if types == frozenset({"integer"}):
        return "integer"
    if types == frozenset({"boolean"}):
        return "boolean"
    if types == frozenset({"string"}):
        return "text"
    return "json"
