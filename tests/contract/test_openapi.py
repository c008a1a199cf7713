from __future__ import annotations

from typing import Any

import pytest

from clara_runner.contract.openapi import WorkflowDocument, workflow_openapi
from clara_runner.contract.schema import ContractOptions
from clara_runner.errors import ClaraError, InputValidationFailed, PayloadTooLarge, WorkflowFailed
from tests.contract.support import TYPED_FLOW, contract_of
from tests.openapi_checks import check_document, media_examples, schema_errors
from tests.support import HELLO_WORLD, shared_workflow

DOCUMENT = WorkflowDocument(
    name="Typed <b>flow</b>",
    slug="typed-flow",
    description=None,
    version=3,
    base_url="http://127.0.0.1:3000",
    max_execution_seconds=300,
)

FLOWS: dict[str, Any] = {
    "typed": TYPED_FLOW,
    "hello": HELLO_WORLD,
    "studio-export": shared_workflow("agent-studio-export-example.json"),
    "no-inputs": {"nodes": [{"id": "o", "type": "output", "data": {}}], "connections": []},
}


@pytest.mark.parametrize("flow", FLOWS.values(), ids=FLOWS.keys())
@pytest.mark.parametrize("allow_unknown", [False, True])
def test_document_is_valid_openapi_with_valid_examples(flow: Any, allow_unknown: bool) -> None:
    document = workflow_openapi(contract_of(flow, ContractOptions(allow_unknown_fields=allow_unknown)), DOCUMENT)
    check_document(document)
    assert document["openapi"] == "3.1.0"
    assert len(list(media_examples(document))) >= 12


def test_execute_operation_documents_every_status_with_the_error_schema() -> None:
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    operation = document["paths"]["/api/workflows/typed-flow/execute"]["post"]
    statuses = set(operation["responses"])
    assert statuses == {"200", "400", "401", "403", "404", "409", "413", "422", "429", "500", "502", "503", "504"}
    for status in statuses - {"200"}:
        schema = operation["responses"][status]["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/Error"}
    assert operation["security"] == [{"bearerAuth": []}]
    assert document["components"]["securitySchemes"]["bearerAuth"]["scheme"] == "bearer"
    assert operation["responses"]["401"]["headers"]["WWW-Authenticate"]["required"] is True
    assert "Retry-After" in operation["responses"]["429"]["headers"]
    assert "Retry-After" in operation["responses"]["503"]["headers"]


def test_request_and_response_schemas_are_the_contract() -> None:
    contract = contract_of(TYPED_FLOW)
    document = workflow_openapi(contract, DOCUMENT)
    schemas = document["components"]["schemas"]
    assert schemas["Input"]["properties"] == contract.input_schema["properties"]
    assert schemas["Output"]["properties"] == contract.output_schema["properties"]
    assert "$schema" not in schemas["Input"]
    assert document["info"]["title"] == "Typed <b>flow</b>"
    assert document["info"]["description"] == "Deployed Clara workflow 'Typed &lt;b&gt;flow&lt;/b&gt;'"
    assert document["info"]["version"] == "3"
    assert document["servers"] == [{"url": "http://127.0.0.1:3000", "description": "Clara Agent Runner"}]


@pytest.mark.parametrize(
    "error",
    [
        InputValidationFailed(["Missing required field: x"], errors=[{"path": "/x", "message": "Missing"}]),
        WorkflowFailed(
            "Node 'a' failed", details={"nodeId": "a", "executionId": "0f8fad5b-d9cb-469f-a165-70867728950e"}
        ),
        PayloadTooLarge("too big", details={"maxSize": 10, "receivedSize": 11}),
        ClaraError("An unexpected error occurred"),
    ],
)
def test_error_schema_accepts_every_envelope_the_server_emits(error: ClaraError) -> None:
    document = workflow_openapi(contract_of(HELLO_WORLD), DOCUMENT)
    error_schema = {"$ref": "#/components/schemas/Error"}
    assert schema_errors(document, error_schema, error.envelope("2025-01-01T00:00:00.000Z")) == []


def test_error_schema_rejects_an_undeclared_detail() -> None:
    document = workflow_openapi(contract_of(HELLO_WORLD), DOCUMENT)
    body = ClaraError("x", details={"surprise": 1}).envelope("2025-01-01T00:00:00.000Z")
    assert schema_errors(document, {"$ref": "#/components/schemas/Error"}, body) != []


def test_validation_example_lists_every_required_field() -> None:
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    response = document["paths"]["/api/workflows/typed-flow/execute"]["post"]["responses"]["400"]
    example = response["content"]["application/json"]["examples"]["validation"]["value"]
    assert example["validationErrors"] == [
        f"Missing required field: {name}" for name in ("userName", "count", "photo", "report")
    ]
    assert [error["path"] for error in example["errors"]] == ["/userName", "/count", "/photo", "/report"]


def test_code_samples_are_attached_for_redoc() -> None:
    document = workflow_openapi(contract_of(HELLO_WORLD), DOCUMENT)
    samples = document["paths"]["/api/workflows/typed-flow/execute"]["post"]["x-codeSamples"]
    assert [sample["lang"] for sample in samples] == ["Shell", "Python", "JavaScript"]
    assert all("http://127.0.0.1:3000/api/workflows/typed-flow/execute" in sample["source"] for sample in samples)
