from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from clara_runner.contract.examples import example_object, example_value
from clara_runner.contract.media import MediaCheck

SCHEMAS: list[dict[str, Any]] = [
    {},
    {"type": "string"},
    {"type": "string", "minLength": 20},
    {"type": "string", "maxLength": 3},
    {"type": "string", "format": "date-time"},
    {"type": "string", "format": "email"},
    {"type": "string", "format": "uuid"},
    {"type": "string", "format": "uri"},
    {"type": "number"},
    {"type": "number", "minimum": 100.5},
    {"type": "number", "exclusiveMaximum": 0},
    {"type": "number", "exclusiveMinimum": 42},
    {"type": "integer", "maximum": 10},
    {"type": "integer", "exclusiveMinimum": 42.5},
    {"type": "integer", "minimum": 1, "multipleOf": 5},
    {"type": "boolean"},
    {"type": "null"},
    {"type": ["null", "integer"]},
    {"type": ["object", "array"]},
    {"type": "object", "additionalProperties": False},
    {"type": "object", "properties": {"a": {"type": "integer"}, "b": {"type": "string"}}, "required": ["a"]},
    {"type": "array", "items": {"type": "number"}, "minItems": 3},
    {"enum": ["red", "green"]},
    {"const": 7},
    {"anyOf": [{"type": "integer"}, {"type": "string"}]},
    {"type": "string", "default": "hello"},
    {"type": "string", "examples": ["first", "second"]},
]


@pytest.mark.parametrize("schema", SCHEMAS, ids=[str(schema) for schema in SCHEMAS])
def test_example_is_valid_against_its_schema(schema: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)
    assert list(validator.iter_errors(example_value(schema))) == []


@pytest.mark.parametrize(
    "media_type", ["image/png", "image/*", "image/webp", "application/pdf", "audio/wav", "text/csv"]
)
def test_file_field_example_is_a_real_file_of_that_type(media_type: str) -> None:
    example = example_value({"type": "string", "contentEncoding": "base64", "contentMediaType": media_type})
    assert example.startswith("data:")
    assert MediaCheck(media_type).problem(example) is None


def test_own_examples_come_first_then_default() -> None:
    assert example_value({"type": "string", "examples": ["mine"], "default": "fallback"}) == "mine"
    assert example_value({"type": "integer", "default": 3}) == 3
    assert example_value({"type": "boolean", "default": False}) is False


def test_example_object_covers_every_property() -> None:
    schema = {"type": "object", "properties": {"n": {"type": "number"}, "t": {"type": "string"}}}
    assert example_object(schema) == {"n": 42, "t": "example text"}


def test_a_schema_of_no_type_gets_a_null_example_and_a_string_keyword_makes_it_text() -> None:
    assert example_value({}) is None
    assert example_value({"description": "anything"}) is None
    assert example_value({"format": "email"}) == "user@example.com"
