from __future__ import annotations

from typing import Any

import jsonschema
import pytest

from clara_runner.contract.examples import example_object
from clara_runner.contract.fields import assign_names, field_name
from clara_runner.contract.media import MediaCheck, is_file_field
from clara_runner.contract.schema import JSON_SCHEMA_DIALECT, Contract, ContractOptions
from clara_runner.flow.model import Node
from tests.contract.support import TYPED_FLOW, contract_of, edge
from tests.support import WORKFLOWS, shared_workflow

JSON_BRANCHES = [{"type": "object", "additionalProperties": True}, {"type": "array", "items": {}}]
"""A JSON field: `anyOf` branches that client generators type, never a bare `["object", "array"]` list."""


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("User Name", "userName"),
        ("SDK Field", "sDKField"),
        ("Studio Field", "studioField"),
        ("my-input", "myinput"),
        ("1753607502081-eoh6gq0xr", "1753607502081eoh6gq0xr"),
        ("  How can i help you  ", "howCanIHelpYou"),
        ("snake_case name", "snakecaseName"),
        ("!!!", "input"),
        ("日本語", "input"),
    ],
)
def test_field_names_follow_the_reference_rule(label: str, expected: str) -> None:
    assert field_name(label) == expected


def test_colliding_names_get_suffixes_and_a_warning_each() -> None:
    nodes = [Node(id=f"n{index}", type="input", name="", data={"label": "Input"}) for index in range(3)]
    named, warnings = assign_names(nodes, outputs=False)
    assert [item.field for item in named] == ["input", "input2", "input3"]
    assert len(warnings) == 2
    assert "node 'n1' is exposed as 'input2'" in warnings[0]
    assert "used by node 'n0'" in warnings[0]


def test_an_output_whose_label_has_no_letters_is_called_output() -> None:
    named, _ = assign_names([Node(id="x", type="output", name="", data={"outputLabel": "???"})], outputs=True)
    assert named[0].field == "output"


def test_input_schema_types_every_kind_of_field() -> None:
    contract = contract_of(TYPED_FLOW)
    properties = contract.input_schema["properties"]
    assert contract.input_schema["$schema"] == JSON_SCHEMA_DIALECT
    assert properties["userName"]["type"] == "string"
    assert properties["count"]["type"] == "number"
    assert properties["config"]["anyOf"] == JSON_BRANCHES
    assert "type" not in properties["config"]
    photo = properties["photo"]
    assert (photo["type"], photo["contentEncoding"], photo["contentMediaType"]) == ("string", "base64", "image/png")
    assert properties["report"]["contentMediaType"] == "application/pdf"
    assert properties["userName"]["x-node-id"] == "name"
    assert properties["photo"]["x-node-type"] == "test-file-input"


def test_only_inputs_without_a_default_are_required() -> None:
    contract = contract_of(TYPED_FLOW)
    assert contract.input_schema["required"] == ["userName", "count", "photo", "report"]
    properties = contract.input_schema["properties"]
    assert properties["greeting"]["default"] == "Hello"
    assert properties["config"]["default"] == {"a": 1}


def test_descriptions_come_from_the_node_then_the_label_and_type() -> None:
    properties = contract_of(TYPED_FLOW).input_schema["properties"]
    assert properties["userName"]["description"] == "Who to greet"
    assert properties["userName"]["title"] == "User Name"
    assert properties["count"]["description"] == "Count: Number input"
    assert properties["photo"]["description"] == "Photo: A image/png file as base64 text or a data: URL"


def test_output_schema_follows_format_and_the_feeding_port() -> None:
    contract = contract_of(TYPED_FLOW)
    outputs = contract.output_schema["properties"]
    assert outputs["parsed"]["anyOf"] == JSON_BRANCHES
    assert outputs["text"]["type"] == "string"
    assert outputs["photoSize"]["type"] == "number"
    assert "additionalProperties" not in contract.output_schema


def test_unknown_fields_are_closed_by_default_and_open_on_request() -> None:
    assert contract_of(TYPED_FLOW).input_schema["additionalProperties"] is False
    opened = contract_of(TYPED_FLOW, ContractOptions(allow_unknown_fields=True))
    assert "additionalProperties" not in opened.input_schema
    assert opened.options.allow_unknown_fields is True


def test_options_survive_the_stored_form_and_old_documents_default_to_closed() -> None:
    contract = contract_of(TYPED_FLOW, ContractOptions(allow_unknown_fields=True))
    document = contract.to_document()
    assert Contract.from_document(document) == contract
    del document["options"]
    assert Contract.from_document(document).options == ContractOptions()


@pytest.mark.parametrize(
    ("body", "problems"),
    [
        ({}, []),
        ({"allowUnknownFields": True}, []),
        ({"allowUnknownFields": "yes"}, ["allowUnknownFields must be true or false"]),
    ],
)
def test_options_parse_from_a_request_body(body: dict[str, Any], problems: list[str]) -> None:
    found: list[str] = []
    ContractOptions.parse(body, found)
    assert found == problems


def _assert_examples_valid(contract: Contract) -> None:
    for schema in (contract.input_schema, contract.output_schema):
        jsonschema.Draft202012Validator.check_schema(schema)
        validator = jsonschema.Draft202012Validator(
            schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER
        )
        assert list(validator.iter_errors(example_object(schema))) == []
        for name, field in schema["properties"].items():
            assert list(jsonschema.Draft202012Validator(field).iter_errors(field["examples"][0])) == [], name
            if is_file_field(field):
                assert MediaCheck(field["contentMediaType"]).problem(field["examples"][0]) is None


def test_every_field_has_an_example_that_validates() -> None:
    contract = contract_of(TYPED_FLOW)
    _assert_examples_valid(contract)
    properties = contract.input_schema["properties"]
    assert properties["photo"]["examples"][0].startswith("data:image/png;base64,iVBORw0KGgo")
    assert properties["report"]["examples"][0].startswith("data:application/pdf;base64,JVBERi0")


DEPLOYABLE_HERE = ["agent-studio-export-example.json"]
"""Shared Studio exports whose node types all exist on this branch."""


@pytest.mark.parametrize("name", DEPLOYABLE_HERE)
def test_shared_workflows_have_complete_schemas_with_valid_examples(name: str) -> None:
    assert (WORKFLOWS / name).exists()
    contract = contract_of(shared_workflow(name))
    assert contract.inputs
    assert contract.outputs
    _assert_examples_valid(contract)


def test_conditional_outputs_are_not_required() -> None:
    flow = {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Text"}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Echo"}},
            {"id": "dangling", "type": "output", "data": {"outputLabel": "Nothing"}},
        ],
        "connections": [edge("in", "out")],
    }
    assert contract_of(flow).output_schema["required"] == ["echo"]


def test_an_output_fed_by_an_untyped_port_claims_no_example_type() -> None:
    """An `auto` output after an untyped port may return 42 as well as text: its schema has no type and no
    example, and the document's example outputs show it as null rather than as a string."""
    echo = contract_of(
        {
            "nodes": [{"id": "i", "type": "input"}, {"id": "o", "type": "output", "data": {"outputLabel": "Result"}}],
            "connections": [edge("i", "o")],
        }
    )
    result = echo.output_schema["properties"]["result"]
    assert {"type", "anyOf", "examples"}.isdisjoint(result)
    assert example_object(echo.output_schema) == {"result": None}
    typed = contract_of(TYPED_FLOW).output_schema["properties"]
    assert typed["text"]["examples"] == ["example text"]
    assert typed["photoSize"]["examples"] == [42]
