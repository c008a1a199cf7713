"""Checks on OpenAPI documents: the spec validator, and instances (examples, real responses) checked
against the document's own schemas with their `$ref`s resolved."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

import jsonschema
from openapi_spec_validator import validate
from referencing import Registry, Resource
from referencing.jsonschema import DRAFT202012

DOCUMENT_URI = "urn:clara:openapi"


def schema_errors(document: Mapping[str, Any], schema: Mapping[str, Any], instance: Any) -> list[str]:
    """Why `instance` does not match `schema` (a schema inside `document`, which its `$ref`s point into)."""
    resource = Resource.from_contents(dict(document), default_specification=DRAFT202012)
    registry: Registry[Any] = Registry().with_resource(DOCUMENT_URI, resource)
    rooted = _root_refs(schema)
    validator = jsonschema.Draft202012Validator(
        rooted, registry=registry, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
    )
    return [f"{'/'.join(map(str, error.absolute_path))}: {error.message}" for error in validator.iter_errors(instance)]


def _root_refs(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {
            key: DOCUMENT_URI + item
            if key == "$ref" and isinstance(item, str) and item.startswith("#")
            else _root_refs(item)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_root_refs(item) for item in value]
    return value


HTTP_METHODS = frozenset({"get", "put", "post", "delete", "options", "head", "patch", "trace"})


def operations(document: Mapping[str, Any]) -> Iterator[tuple[str, str, Mapping[str, Any]]]:
    """(path or webhook name, method, operation) for every operation of the paths and the webhooks."""
    for section in ("paths", "webhooks"):
        for path, item in document.get(section, {}).items():
            for method, operation in item.items():
                if method in HTTP_METHODS:
                    yield path, method, operation


def media_examples(document: Mapping[str, Any]) -> Iterator[tuple[str, Mapping[str, Any], Any]]:
    """(where, schema, example value) for every example of every request and response body."""
    for path, method, operation in operations(document):
        bodies = [("request", operation.get("requestBody", {}))]
        bodies += [(status, response) for status, response in operation.get("responses", {}).items()]
        for where, body in bodies:
            for media_type, media in body.get("content", {}).items():
                for name, example in media.get("examples", {}).items():
                    yield f"{method} {path} {where} {media_type} {name}", media["schema"], example["value"]


def check_document(document: Mapping[str, Any]) -> None:
    """The document is valid OpenAPI and every example in it matches its schema."""
    validate(dict(document))
    for where, schema, example in media_examples(document):
        assert schema_errors(document, schema, example) == [], where
