"""Example values that are valid against the schemas they illustrate.

Examples appear in the published schemas, the OpenAPI document and the code snippets, and the
snippets are meant to run as printed; so an example must pass the same validation a real request
does, including the decoding of file fields (a real 1x1 PNG, a real PDF, never a truncated string).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from clara_runner.contract.media import is_file_field, sample_file

_FORMATS: Mapping[str, str] = {
    "date-time": "2025-01-01T12:00:00Z",
    "date": "2025-01-01",
    "time": "12:00:00Z",
    "email": "user@example.com",
    "uri": "https://example.com/",
    "url": "https://example.com/",
    "uuid": "123e4567-e89b-42d3-a456-426614174000",
    "hostname": "example.com",
    "ipv4": "192.0.2.1",
    "ipv6": "2001:db8::1",
}
_TEXT = "example text"
_STRING_KEYWORDS = frozenset({"format", "minLength", "maxLength", "pattern", "contentEncoding", "contentMediaType"})


def example_value(schema: Mapping[str, Any]) -> Any:
    """The schema's own example, default, constant or first choice, else a value built to fit it; None
    (JSON null) for a schema that says nothing of the value's type, such as an output fed by an untyped
    port, which may return anything: a string example there would be a promise the run need not keep."""
    examples = schema.get("examples")
    if isinstance(examples, list) and examples:
        return examples[0]
    for key in ("example", "default", "const"):
        if key in schema:
            return schema[key]
    choices = schema.get("enum")
    if isinstance(choices, list) and choices:
        return choices[0]
    for key in ("anyOf", "oneOf"):
        branches = schema.get(key)
        if isinstance(branches, list) and branches:
            return example_value(branches[0])
    return _by_type(schema, _first_type(schema))


def example_object(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An example object: every declared property with an example value."""
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    return {name: example_value(property_schema) for name, property_schema in properties.items()}


def _first_type(schema: Mapping[str, Any]) -> str | None:
    declared = schema.get("type")
    if isinstance(declared, str):
        return declared
    if isinstance(declared, list):
        concrete = [name for name in declared if name != "null"]
        return concrete[0] if concrete else "null"
    if "properties" in schema:
        return "object"
    if "items" in schema:
        return "array"
    return None


def _by_type(schema: Mapping[str, Any], kind: str | None) -> Any:
    if kind is None and _STRING_KEYWORDS.isdisjoint(schema):
        return None
    if kind == "string" or kind is None:
        return _string(schema)
    if kind in ("number", "integer"):
        return _number(schema, integer=kind == "integer")
    if kind == "boolean":
        return True
    if kind == "null":
        return None
    if kind == "array":
        items = schema.get("items")
        item = example_value(items) if isinstance(items, Mapping) else _TEXT
        return [item] * max(1, int(schema.get("minItems", 1)))
    if "properties" in schema:
        return example_object(schema)
    return {"key": "value"} if schema.get("additionalProperties", True) is not False else {}


def _string(schema: Mapping[str, Any]) -> str:
    if is_file_field(schema):
        return sample_file(str(schema.get("contentMediaType", "")))
    text = _FORMATS.get(str(schema.get("format", "")), _TEXT)
    minimum = int(schema.get("minLength", 0))
    if len(text) < minimum:
        text = text + "x" * (minimum - len(text))
    maximum = schema.get("maxLength")
    return text[: int(maximum)] if isinstance(maximum, int) else text


def _number(schema: Mapping[str, Any], *, integer: bool) -> int | float:
    low = _bound(schema, "minimum", "exclusiveMinimum", +1, integer)
    high = _bound(schema, "maximum", "exclusiveMaximum", -1, integer)
    value: int | float = 42
    if low is not None and value < low:
        value = low
    if high is not None and value > high:
        value = high
    multiple = schema.get("multipleOf")
    if isinstance(multiple, int | float) and multiple > 0:
        value = math.ceil(value / multiple) * multiple
    return int(value) if integer else value


def _bound(schema: Mapping[str, Any], inclusive: str, exclusive: str, step: int, integer: bool) -> int | float | None:
    if isinstance(schema.get(inclusive), int | float):
        value: int | float = schema[inclusive]
        return math.ceil(value) if integer and step > 0 else math.floor(value) if integer else value
    if isinstance(schema.get(exclusive), int | float):
        edge: int | float = schema[exclusive]
        if integer:
            return math.floor(edge) + 1 if step > 0 else math.ceil(edge) - 1
        return edge + step * (abs(edge) * 1e-9 + 1e-9) if edge else step * 1e-9
    return None
