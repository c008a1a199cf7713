from __future__ import annotations

import base64
import json
from typing import Any

import pytest

from clara_runner.contract.inputs import InputBinder, normalise_integers
from clara_runner.contract.media import data_url, tiny_pdf, tiny_png
from clara_runner.contract.schema import Contract, ContractOptions
from clara_runner.errors import InputValidationFailed
from tests.contract.support import TYPED_FLOW, contract_of, edge

PNG = data_url("image/png", tiny_png())
PDF = base64.b64encode(tiny_pdf()).decode()
VALID = {"userName": "Ada", "count": 2, "photo": PNG, "report": PDF}


def binder(options: ContractOptions | None = None, flow: Any = TYPED_FLOW) -> InputBinder:
    return InputBinder(contract_of(flow, options))


def failure(payload: Any, options: ContractOptions | None = None, flow: Any = TYPED_FLOW) -> InputValidationFailed:
    with pytest.raises(InputValidationFailed) as caught:
        binder(options, flow).bind(payload)
    return caught.value


def test_a_valid_body_binds_values_to_input_nodes() -> None:
    values, recorded = binder().bind(VALID)
    assert values == {"name": "Ada", "count": 2, "photo": PNG, "report": PDF}
    assert recorded == VALID


def test_every_problem_is_reported_at_once_with_seed_sentences_and_pointers() -> None:
    error = failure({"count": "7", "photo": 3, "extra": 1, "more": None})
    assert error.status == 400
    assert error.code == "input_validation_failed"
    assert sorted(error.details["validationErrors"]) == sorted(
        [
            "Missing required field: userName",
            "Missing required field: report",
            "Field 'count' must be a number",
            "Field 'photo' must be a string",
            "Unknown field: extra",
            "Unknown field: more",
        ]
    )
    pointers = {item["message"]: item["path"] for item in error.details["errors"]}
    assert pointers["Missing required field: userName"] == "/userName"
    assert pointers["Field 'count' must be a number"] == "/count"
    assert pointers["Unknown field: extra"] == "/extra"
    assert len(error.details["errors"]) == len(error.details["validationErrors"])


def test_a_body_that_is_not_an_object_is_refused_with_a_root_pointer() -> None:
    error = failure([1, 2])
    assert error.details["validationErrors"] == ["Request body must be a JSON object of input fields"]
    assert error.details["errors"] == [{"path": "", "message": "Request body must be a JSON object of input fields"}]


def test_pointers_escape_slashes_and_tildes() -> None:
    error = failure(VALID | {"a/b~c": 1})
    assert error.details["errors"] == [{"path": "/a~1b~0c", "message": "Unknown field: a/b~c"}]


def test_json_fields_must_be_objects_or_arrays() -> None:
    error = failure(VALID | {"config": "not json"})
    assert error.details["errors"] == [{"path": "/config", "message": "Field 'config' must be an array or an object"}]


@pytest.mark.parametrize("text", ['{"depth": 2}', '[1, {"a": null}]'])
def test_a_json_field_takes_text_holding_an_object_or_an_array(text: str) -> None:
    values, recorded = binder().bind(VALID | {"config": text})
    assert values["config"] == json.loads(text)
    assert recorded["config"] == json.loads(text)


@pytest.mark.parametrize("text", ["42", '"quoted"', "null"])
def test_json_text_that_is_not_an_object_or_an_array_is_refused(text: str) -> None:
    error = failure(VALID | {"config": text})
    assert error.details["errors"] == [{"path": "/config", "message": "Field 'config' must be an array or an object"}]


def test_the_json_field_schema_says_text_is_parsed() -> None:
    config = next(field for field in contract_of(TYPED_FLOW).inputs if field.name == "config")
    assert "a string holding one" in config.schema["description"]


def test_file_fields_must_decode_to_the_declared_media_type() -> None:
    error = failure(VALID | {"photo": "%%% not base64", "report": data_url("image/png", tiny_png())})
    assert error.details["validationErrors"] == [
        "Field 'photo' must be a base64-encoded PNG, JPEG, GIF, WebP or BMP file, optionally as a data: URL; "
        "it is not valid base64",
        "Field 'report' must be a base64-encoded PDF file; the decoded bytes are not one",
    ]
    assert [item["path"] for item in error.details["errors"]] == ["/photo", "/report"]


def test_file_problems_are_reported_with_schema_problems() -> None:
    error = failure({"photo": "nope"})
    assert "Missing required field: userName" in error.details["validationErrors"]
    assert any(sentence.startswith("Field 'photo' must be") for sentence in error.details["validationErrors"])


def test_integral_floats_become_integers_where_the_schema_says_integer() -> None:
    schema = {
        "type": "object",
        "properties": {
            "n": {"type": "integer"},
            "x": {"type": "number"},
            "maybe": {"type": ["integer", "null"]},
            "list": {"type": "array", "items": {"type": "integer"}},
            "inner": {"type": "object", "properties": {"k": {"type": "integer"}}},
        },
    }
    value = {"n": 1.0, "x": 2.0, "maybe": 3.0, "list": [4.0, 5], "inner": {"k": 6.0, "other": 7.0}}
    normalised = normalise_integers(value, schema)
    assert normalised == {"n": 1, "x": 2.0, "maybe": 3, "list": [4, 5], "inner": {"k": 6, "other": 7.0}}
    assert type(normalised["n"]) is int
    assert type(normalised["x"]) is float
    assert type(normalised["list"][0]) is int
    assert type(normalised["inner"]["other"]) is float


def test_the_binder_normalises_integer_fields_of_the_contract() -> None:
    contract = contract_of(TYPED_FLOW)
    properties = dict(contract.input_schema["properties"])
    properties["count"] = {**properties["count"], "type": "integer"}
    document = contract.to_document()
    document["input"] = {**contract.input_schema, "properties": properties}
    values, recorded = InputBinder(Contract.from_document(document)).bind(VALID | {"count": 5.0})
    assert values["count"] == 5
    assert type(values["count"]) is int
    assert type(recorded["count"]) is int
    assert failure_message(Contract.from_document(document), VALID | {"count": 5.5}) == [
        "Field 'count' must be an integer"
    ]


def failure_message(contract: Contract, payload: Any) -> list[str]:
    with pytest.raises(InputValidationFailed) as caught:
        InputBinder(contract).bind(payload)
    return list(caught.value.details["validationErrors"])


def test_unknown_fields_are_ignored_when_the_deployment_allows_them() -> None:
    values, recorded = binder(ContractOptions(allow_unknown_fields=True)).bind(VALID | {"extra": 1})
    assert "extra" not in values.values()
    assert set(values) == {"name", "count", "photo", "report"}
    assert recorded["extra"] == 1


def test_null_bytes_are_removed_and_sanitising_errors_carry_pointers() -> None:
    values, _ = binder().bind(VALID | {"userName": "A\x00da"})
    assert values["name"] == "Ada"
    error = failure(VALID | {"userName": " " * 1_000_001 + "x"})
    assert error.details["errors"] == [
        {"path": "/userName", "message": "Field 'userName' contains excessive whitespace"}
    ]


def test_defaults_are_not_sent_to_nodes_when_absent() -> None:
    flow = {
        "nodes": [
            {"id": "g", "type": "input", "data": {"label": "Greeting", "value": "Hi"}},
            {"id": "o", "type": "output", "data": {}},
        ],
        "connections": [edge("g", "o")],
    }
    values, _ = binder(flow=flow).bind({})
    assert values == {}


def test_null_bytes_are_removed_from_long_lists_of_strings() -> None:
    values, _ = binder().bind(VALID | {"config": ["a"] * 5_000 + ["b\x00c", 7]})
    assert values["config"] == ["a"] * 5_000 + ["bc", 7]


JSON_VALUES: list[Any] = [{"a": 1}, [], [1, "two"], {}, "text", 3, 2.5, True, None, '{"a": 1}']


@pytest.mark.parametrize("value", JSON_VALUES, ids=repr)
def test_a_json_field_accepts_and_refuses_what_the_type_list_did_with_the_same_words(value: Any) -> None:
    """JSON fields became `anyOf` object, array (for client generators); versions stored before keep the
    type list. Both must accept the same values (JSON text holding an object, parsed, too) and refuse the
    others with the same sentence."""
    current = contract_of(TYPED_FLOW)
    document = current.to_document()
    document["input"]["properties"]["config"] = {"type": ["object", "array"]}
    stored_before = Contract.from_document(document)
    answers = []
    for contract in (current, stored_before):
        try:
            answers.append(InputBinder(contract).bind({**VALID, "config": value})[0]["config"])
        except InputValidationFailed as refused:
            answers.append(refused.details["validationErrors"])
    assert answers[0] == answers[1]
    held = json.loads(value) if value == '{"a": 1}' else value
    accepted = isinstance(held, dict | list)
    assert answers[0] == (held if accepted else ["Field 'config' must be an array or an object"])
