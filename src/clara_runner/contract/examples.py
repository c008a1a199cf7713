"""Example values that are valid against the schemas they illustrate."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

_BY_TYPE: Mapping[str, Any] = {
    "string": "example text",
    "number": 42,
    "integer": 42,
    "boolean": True,
    "object": {"key": "value"},
    "array": ["item1", "item2"],
    "null": None,
}


def example_value(schema: Mapping[str, Any]) -> Any:
    """The schema's own example or default, else a plain value of its first type."""
    for key in ("examples", "example", "default"):
        if key in schema:
            value = schema[key]
            return value[0] if key == "examples" and isinstance(value, list) and value else value
    declared = schema.get("type")
    first = declared[0] if isinstance(declared, list) and declared else declared
    return _BY_TYPE.get(first, "example") if isinstance(first, str) else "example"


def example_object(schema: Mapping[str, Any]) -> dict[str, Any]:
    """An example request body: every property of an object schema with an example value."""
    properties: Mapping[str, Mapping[str, Any]] = schema.get("properties", {})
    return {name: example_value(property_schema) for name, property_schema in properties.items()}
