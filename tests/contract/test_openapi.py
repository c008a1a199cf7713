from __future__ import annotations

import json
from typing import Any

import pytest

from clara_runner.contract.openapi import WorkflowDocument, workflow_openapi
from clara_runner.contract.schema import ContractOptions
from clara_runner.errors import ClaraError, InputValidationFailed, PayloadTooLarge, WorkflowFailed
from tests.contract.support import TYPED_FLOW, contract_of
from tests.openapi_checks import check_document, media_examples, operations, schema_errors
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
    assert statuses == {
        "200",
        "202",
        "400",
        "401",
        "403",
        "404",
        "409",
        "413",
        "422",
        "429",
        "500",
        "502",
        "503",
        "504",
    }
    for status in statuses - {"200", "202"}:
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
    assert [sample["lang"] for sample in samples] == ["Shell", "Python", "JavaScript"] * 3
    assert [sample["label"] for sample in samples][:3] == ["curl", "Python (requests)", "JavaScript (fetch)"]
    assert all("http://127.0.0.1:3000/api/workflows/typed-flow/execute" in sample["source"] for sample in samples)
    assert sum("text/event-stream" in sample["source"] for sample in samples) == 3
    assert sum("respond-async" in sample["source"] for sample in samples) == 3


def _execute(document: dict[str, Any]) -> dict[str, Any]:
    operation: dict[str, Any] = document["paths"]["/api/workflows/typed-flow/execute"]["post"]
    return operation


def test_execute_documents_its_modes_and_the_callback_url() -> None:
    operation = _execute(workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT))
    parameters = {(parameter["in"], parameter["name"]) for parameter in operation["parameters"]}
    assert {("query", "mode"), ("query", "stream"), ("header", "Prefer"), ("query", "callbackUrl")} <= parameters
    assert set(operation["responses"]["200"]["content"]) == {"application/json", "text/event-stream"}
    accepted = operation["responses"]["202"]
    assert accepted["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/RunAccepted"}
    assert accepted["headers"]["Location"]["required"] is True
    assert "Preference-Applied" in accepted["headers"]
    assert "invalid_mode" in operation["responses"]["400"]["description"]


def test_every_event_is_listed_with_a_data_schema_in_the_document() -> None:
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    stream = _execute(document)["responses"]["200"]["content"]["text/event-stream"]
    events = stream["x-events"]
    assert list(events) == [
        "run.started",
        "node.started",
        "node.finished",
        "node.skipped",
        "node.failed",
        "llm.token",
        "run.finished",
        "run.failed",
    ]
    assert events["run.finished"] == {"$ref": "#/components/schemas/ExecutionResult"}
    assert events["run.failed"] == {"$ref": "#/components/schemas/Error"}
    schemas = document["components"]["schemas"]
    for name, reference in events.items():
        assert reference["$ref"].rsplit("/", 1)[1] in schemas, name
        assert f"`{name}`" in stream["schema"]["description"]


def parse_event_stream(text: str) -> list[tuple[str, str, Any]]:
    """(id, event, data) of each event of a Server-Sent Events text (CRLF or LF lines)."""
    parsed = []
    for block in text.replace("\r\n", "\n").strip().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if not line.startswith(":"))
        parsed.append((fields["id"], fields["event"], json.loads(fields["data"])))
    return parsed


def test_the_stream_sample_is_a_valid_stream_ending_with_the_json_example() -> None:
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    content = _execute(document)["responses"]["200"]["content"]
    media = content["text/event-stream"]
    sample = media["schema"]["description"].split("```\n")[1].removesuffix("```")
    events = parse_event_stream(sample)
    assert [number for number, _, _ in events] == [str(number) for number in range(1, len(events) + 1)]
    for number, name, data in events:
        event = {"id": number, "event": name, "data": json.dumps(data)}
        assert schema_errors(document, media["schema"], event) == [], name
        assert schema_errors(document, media["x-events"][name], data) == [], name
    assert events[0][1] == "run.started"
    assert events[-1][1:] == ("run.finished", content["application/json"]["examples"]["default"]["value"])


def test_each_event_is_described_as_its_sse_fields_with_its_data_schema() -> None:
    """One event per `schema` (as OpenAPI 3.2's itemSchema, which schemathesis checks each event against)."""
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    media = _execute(document)["responses"]["200"]["content"]["text/event-stream"]
    branches = {
        branch["properties"]["event"]["const"]: branch["properties"]["data"]["contentSchema"]
        for branch in media["schema"]["oneOf"]
    }
    assert branches == media["x-events"]
    assert schema_errors(document, media["schema"], {"id": "1", "event": "run.done", "data": "{}"}) != []


def test_run_resources_are_documented_with_their_errors() -> None:
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    paths = document["paths"]
    read = paths["/api/executions/{executionId}"]["get"]
    events = paths["/api/executions/{executionId}/events"]["get"]
    cancel = paths["/api/executions/{executionId}/cancel"]["post"]
    assert set(read["responses"]) == {"200", "400", "401", "404", "503"}
    assert set(events["responses"]) == {"200", "400", "401", "404", "503"}
    assert set(cancel["responses"]) == {"200", "202", "400", "401", "404", "409", "503"}
    assert "execution_not_found" in read["responses"]["404"]["description"]
    assert "no_event_log" in events["responses"]["404"]["description"]
    assert set(_codes(cancel["responses"]["409"]["description"])) == {"run_finished"}
    assert list(events["responses"]["200"]["content"]) == ["text/event-stream"]
    assert {parameter["name"] for parameter in events["parameters"]} == {"Last-Event-ID", "lastEventId"}
    detail = document["components"]["schemas"]["ExecutionDetail"]["properties"]
    assert {"$ref": "#/components/schemas/Output"} in detail["outputs"]["anyOf"]
    ids = {operation["operationId"] for _, _, operation in operations(document)}
    links = _execute(document)["responses"]["202"]["links"]
    assert {link["operationId"] for link in links.values()} <= ids


def _codes(description: str) -> list[str]:
    return description.split("`")[1::2]


def test_the_webhook_payload_is_described_with_its_signature_headers() -> None:
    document = workflow_openapi(contract_of(TYPED_FLOW), DOCUMENT)
    webhook = document["webhooks"]["runFinished"]["post"]
    assert {parameter["name"] for parameter in webhook["parameters"]} == {
        "webhook-id",
        "webhook-timestamp",
        "webhook-signature",
    }
    media = webhook["requestBody"]["content"]["application/json"]
    assert media["schema"] == {"$ref": "#/components/schemas/WebhookPayload"}
    failed: dict[str, Any] = {
        "type": "run.failed",
        "timestamp": "2025-01-01T12:00:01.000Z",
        "data": {
            **media["examples"]["succeeded"]["value"]["data"],
            "status": "timeout",
            "outputs": None,
            "error": {"code": "execution_timeout", "message": "Workflow execution timeout after 300000ms"},
        },
    }
    assert schema_errors(document, media["schema"], failed) == []
    wrong_outputs = {**failed, "data": {**failed["data"], "outputs": {"photoSize": "not a number"}}}
    assert schema_errors(document, media["schema"], wrong_outputs) != []
