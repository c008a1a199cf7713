"""From a request body to the values of the input nodes.

The body is sanitised (null bytes removed from every nested string, absurd whitespace rejected) and
validated against the version's input schema by a validator compiled once per version. File fields
(`contentEncoding: base64`) are decoded and their bytes checked against the declared media type,
which a JSON Schema validator does not do. Every problem is reported at once, both as the original
server's `validationErrors` sentences and as `errors: [{path, message}]` with JSON Pointers. Integral
floats sent for integer fields (`1.0`, which JSON Schema accepts as an integer) become integers, so
nodes never see a float where the schema promised an integer. A JSON field (an object or an array)
also takes a string holding one, as Agent Studio users type JSON text; it is parsed before validation.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from clara_runner.contract.media import MediaCheck, is_file_field
from clara_runner.contract.schema import Contract, value_types
from clara_runner.errors import InputValidationFailed
from clara_runner.jsonio import flat_texts, slices

MAX_DEPTH = 64
MAX_PROBLEMS = 100
_WHITESPACE_CHECK_LENGTH = 1_000_000
_ARTICLES = {"object": "an object", "array": "an array", "integer": "an integer"}


def _refuse_remote(uri: str) -> Any:
    raise ValueError(f"remote schema references are not followed: {uri}")


class InputBinder:
    """Built once per deployment version; binds request bodies to input node ids."""

    def __init__(self, contract: Contract) -> None:
        self._validator = jsonschema_rs.validator_for(
            dict(contract.input_schema), retriever=_refuse_remote, validate_formats=True
        )
        self._fields = contract.inputs
        self._files = [
            (field.name, MediaCheck(str(field.schema.get("contentMediaType", ""))))
            for field in contract.inputs
            if is_file_field(field.schema)
        ]
        self._schema = contract.input_schema
        self._has_integers = _mentions_integer(contract.input_schema)
        self._json_fields = tuple(field.name for field in contract.inputs if _is_json_field(field.schema))

    def bind(self, payload: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """(values by input node id, the sanitised body as recorded); raises `InputValidationFailed`."""
        if not isinstance(payload, Mapping):
            raise _failure("Request body must be a JSON object of input fields", "")
        clean = sanitise(self._parse_json_texts(payload))
        found = [described for error in self._validator.iter_errors(clean) for described in _describe(error)]
        for name, check in self._files:
            value = clean.get(name)
            problem = check.problem(value) if isinstance(value, str) else None
            if problem is not None:
                found.append((2, f"Field '{name}' {problem}", f"/{_escape(name)}"))
        if found:
            raise _refusal(found)
        if self._has_integers:
            clean = normalise_integers(clean, self._schema)
        values = {field.node_id: clean[field.name] for field in self._fields if field.name in clean}
        return values, clean

    def _parse_json_texts(self, payload: Mapping[str, Any]) -> Mapping[str, Any]:
        """`payload` with each JSON field sent as text holding an object or an array replaced by that
        value; other text is left for validation to refuse."""
        parsed: dict[str, Any] = {}
        for name in self._json_fields:
            value = payload.get(name)
            if not isinstance(value, str):
                continue
            try:
                document = json.loads(value)
            except (ValueError, RecursionError):
                continue
            if isinstance(document, dict | list):
                parsed[name] = document
        return {**payload, **parsed} if parsed else payload


def _is_json_field(schema: Mapping[str, Any]) -> bool:
    """A field typed as an object or an array and not as text (`type: [object, array]`, or the same as
    `anyOf` branches)."""
    types = value_types(schema)
    return types is not None and {"object", "array"} <= types and "string" not in types


def _refusal(found: list[tuple[int, str, str]]) -> InputValidationFailed:
    """Every problem, ranked, in at most `MAX_PROBLEMS` entries: a body with 200,000 unknown fields gets an
    answer of a few kilobytes that says how many there were, not one of 15 MB."""
    found.sort(key=lambda described: described[0])
    listed = found[:MAX_PROBLEMS]
    problems = [sentence for _, sentence, _ in listed]
    pointers = [{"path": pointer, "message": sentence} for _, sentence, pointer in listed]
    if len(found) <= MAX_PROBLEMS:
        return InputValidationFailed(problems, errors=pointers)
    summary = "; ".join(problems[:5]) + f" ... ({len(found)} problems in all; the first {MAX_PROBLEMS} are listed)"
    return InputValidationFailed(problems, message=summary, errors=pointers)


def _failure(sentence: str, pointer: str) -> InputValidationFailed:
    return InputValidationFailed([sentence], errors=[{"path": pointer, "message": sentence}])


def _allows_integer(schema: Mapping[str, Any]) -> bool:
    declared = schema.get("type")
    return declared == "integer" or (isinstance(declared, list) and "integer" in declared)


def _mentions_integer(schema: Any) -> bool:
    if isinstance(schema, Mapping):
        return _allows_integer(schema) or any(_mentions_integer(item) for item in schema.values())
    if isinstance(schema, list):
        return any(_mentions_integer(item) for item in schema)
    return False


def normalise_integers(value: Any, schema: Mapping[str, Any]) -> Any:
    """`value` with every integral float that `schema` types as an integer turned into an int."""
    if isinstance(value, float) and value.is_integer() and _allows_integer(schema):
        return int(value)
    properties = schema.get("properties")
    if isinstance(value, dict) and isinstance(properties, Mapping):
        return {key: normalise_integers(item, properties.get(key, {})) for key, item in value.items()}
    items = schema.get("items")
    if isinstance(value, list) and isinstance(items, Mapping):
        return [normalise_integers(item, items) for item in value]
    return value


def sanitise(value: Any) -> Any:
    """`value` (as `json.loads` made it, owned by the caller) with NUL characters removed from every
    string and key, changed in place; `InputValidationFailed` when it nests more than `MAX_DEPTH` levels
    or a long string is nearly all whitespace.

    One linear walk that builds no paths: the location of a problem is looked for only once there is
    one (`_locate`), so a legal body of millions of values costs one visit per value.
    """
    if isinstance(value, str):
        return _clean_text(value, value)
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        container, depth = stack.pop()
        if depth > MAX_DEPTH:
            pointer = _locate(value, container)
            raise _failure(f"Input is nested more than {MAX_DEPTH} levels deep at '{pointer}'", pointer)
        if isinstance(container, dict):
            if any("\x00" in key for key in container):
                cleaned = {key.replace("\x00", ""): item for key, item in container.items()}
                container.clear()
                container.update(cleaned)
            items: Any = container.items()
        elif isinstance(container, list):
            texts = flat_texts(container)
            if texts is not None and not _may_need_cleaning(texts):
                continue
            items = enumerate(container)
        else:
            continue
        for slot, item in items:
            if isinstance(item, str):
                if "\x00" in item or len(item) > _WHITESPACE_CHECK_LENGTH:
                    container[slot] = _clean_text(item, value)
            elif isinstance(item, dict | list):
                stack.append((item, depth + 1))
    return value


def _may_need_cleaning(texts: list[str] | tuple[str, ...]) -> bool:
    """False when no string of a flat list holds NUL or could be long enough for the whitespace check
    (a slice of strings longer than that together is looked at one by one)."""
    return any(len(joined) > _WHITESPACE_CHECK_LENGTH or "\x00" in joined for joined in map("".join, slices(texts)))


def _clean_text(text: str, body: Any) -> str:
    cleaned = text.replace("\x00", "")
    if len(cleaned) > _WHITESPACE_CHECK_LENGTH and len(cleaned.strip()) * 10 < len(cleaned):
        pointer = _locate(body, text)
        name = pointer.lstrip("/") or "body"
        raise _failure(f"Field '{name}' contains excessive whitespace", pointer)
    return cleaned


def _locate(body: Any, target: Any) -> str:
    """The JSON Pointer of `target` (that very object) within `body` ("" for the body itself)."""
    stack: list[tuple[Any, str]] = [(body, "")]
    while stack:
        item, pointer = stack.pop()
        if item is target:
            return pointer
        children = item.items() if isinstance(item, dict) else enumerate(item) if isinstance(item, list) else ()
        stack.extend((child, f"{pointer}/{_escape(str(slot))}") for slot, child in children)
    return ""


def _escape(key: str) -> str:
    return key.replace("~", "~0").replace("/", "~1")


def _describe(error: jsonschema_rs.ValidationError) -> list[tuple[int, str, str]]:
    """(rank, sentence, JSON pointer): missing fields are listed first, then unknown ones, then the rest,
    in the order the original server reported them."""
    path = list(error.instance_path)
    pointer = "".join(f"/{_escape(str(part))}" for part in path)
    kind = error.kind
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
        name = str(kind.property)
        return [(0, f"Missing required field: {name}", f"{pointer}/{_escape(name)}")]
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.AdditionalProperties):
        return [(1, f"Unknown field: {name}", f"{pointer}/{_escape(name)}") for name in kind.unexpected]
    field = ".".join(str(part) for part in path) or "body"
    types = _wanted_types(kind)
    if types is not None:
        wanted = " or ".join(_ARTICLES.get(name, f"a {name}") for name in types)
        return [(2, f"Field '{field}' must be {wanted}", pointer)]
    return [(2, f"Field '{field}': {error.message}", pointer)]


def _wanted_types(kind: Any) -> list[str] | None:
    """The types a wrong-typed value should have had: a `type` error's, or those of an `anyOf` each of
    whose branches failed only on its type, in the validator's order (a JSON field, `anyOf` object,
    array, reads "must be an array or an object", as it did when it was a type list)."""
    if isinstance(kind, jsonschema_rs.ValidationErrorKind.Type):
        return list(kind.types)
    if not isinstance(kind, jsonschema_rs.ValidationErrorKind.AnyOf):
        return None
    types: list[str] = []
    for branch in kind.context:
        if len(branch) != 1 or not isinstance(branch[0].kind, jsonschema_rs.ValidationErrorKind.Type):
            return None
        types.extend(branch[0].kind.types)
    return sorted(set(types)) or None
