"""The OpenAPI 3.1 document of one deployed workflow.

It is built from the stored contract on request, so every replica serves the same document the
moment a version is committed, and links always use the current `BASE_URL`. It describes the execute
operation completely: the request and response schemas with valid examples, every status the
endpoint can answer with the exact error body, the headers that come with them, the bearer scheme,
and code samples (`x-codeSamples`, which ReDoc shows). Its modes are described too (`runs.py`): the
event stream as a second media type of the 200 with each event's data schema, the 202 of a run that
goes on, the run resources a deployment key may use (`/api/executions/{id}`, its events, its cancel)
with the outputs typed by this workflow's output schema, and the webhook payload (`webhooks`), so a
client generated from the document knows every shape this deployment's runs can reach it in.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.contract.envelopes import ERROR_SCHEMA, metadata_schema
from clara_runner.contract.examples import example_object
from clara_runner.contract.media import is_file_field
from clara_runner.contract.runs import (
    CALLBACK_URL_PARAMETER,
    EVENT_STREAM,
    MODE_PARAMETERS,
    MODES_DESCRIPTION,
    WEBHOOK_HEADERS,
    event_schemas,
    event_stream_media,
    execution_schemas,
    run_accepted_schema,
    webhook_payload_schema,
)
from clara_runner.contract.schema import Contract, value_types
from clara_runner.contract.snippets import SNIPPETS, code_snippets
from clara_runner.errors import (
    AccessDenied,
    ClaraError,
    DatabaseUnavailable,
    ExecutionTimeout,
    InputValidationFailed,
    InvalidApiKey,
    MalformedJSON,
    MissingAuthorization,
    OutputTooLarge,
    PayloadTooLarge,
    WorkflowFailed,
    WorkflowNotFound,
)

EXAMPLE_TIME = "2025-01-01T12:00:00.000Z"
EXAMPLE_EXECUTION_ID = "0f8fad5b-d9cb-469f-a165-70867728950e"
EXAMPLE_DEPLOYMENT_ID = "7c9e6679-7425-40de-944b-e07fc1f90ae7"

_SECURITY_SCHEMES: Mapping[str, Any] = {
    "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "description": "The deployment's API key, `Authorization: Bearer clara_sk_...` "
        "(the bare key without `Bearer` is accepted too)",
    }
}


@dataclass(frozen=True, slots=True)
class WorkflowDocument:
    """What the document needs to know about the deployment, besides its contract."""

    name: str
    slug: str
    description: str | None
    version: int
    base_url: str
    max_execution_seconds: float

    @property
    def endpoint(self) -> str:
        return f"{self.base_url}/api/workflows/{self.slug}/execute"


VERSION_HEADER_PARAMETER: Mapping[str, Any] = {
    "name": "X-Workflow-Version",
    "in": "header",
    "required": False,
    "description": "Run this version instead of the current one; the response's metadata.version names the "
    "version that ran. An unknown version is a 404 (version_not_found), a malformed one a 400.",
    "schema": {"type": "integer", "minimum": 1},
}
IDEMPOTENCY_KEY_PARAMETER: Mapping[str, Any] = {
    "name": "Idempotency-Key",
    "in": "header",
    "required": False,
    "description": "Makes retries safe: within 24 hours the same key and body replay the first "
    "response (with Idempotent-Replayed: true) instead of running again",
    "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
}

_JSON_PARTS = frozenset({"object", "array"})
"""Field types sent as one JSON part in a multipart body."""

_JSON_ONLY_KEYWORDS = frozenset(
    {"contentEncoding", "default", "examples", "example", "minLength", "maxLength", "pattern"}
)
"""Keywords about a file field's base64 text, which do not describe a binary part."""


def multipart_form(contract: Contract) -> dict[str, Any]:
    """The execute body as `multipart/form-data`: a binary part per file field, the other fields as in JSON.

    The server turns each file part into the data URL a JSON body would carry for the field (with the
    part's content type and file name), so one input schema holds for both content types. A JSON field
    (an object or an array) is declared one `application/json` part: without the encoding, OpenAPI
    clients send an array as one part per item, which the server refuses (`malformed_multipart`).
    """
    input_schema = contract.input_schema
    properties: dict[str, Any] = {}
    encoding: dict[str, Any] = {}
    for name, schema in input_schema.get("properties", {}).items():
        if not is_file_field(schema):
            properties[name] = dict(schema)
            if _JSON_PARTS & (value_types(schema) or set()):
                encoding[name] = {"contentType": "application/json"}
            continue
        part = {key: value for key, value in schema.items() if key not in _JSON_ONLY_KEYWORDS}
        properties[name] = {**part, "type": "string", "format": "binary"}
        if "contentMediaType" in schema:
            encoding[name] = {"contentType": schema["contentMediaType"]}
    form: dict[str, Any] = {"type": "object", "properties": properties}
    for keyword in ("required", "additionalProperties"):
        if keyword in input_schema:
            form[keyword] = input_schema[keyword]
    return {"schema": form, **({"encoding": encoding} if encoding else {})}


def _rate_limit_headers() -> dict[str, Any]:
    return {
        "RateLimit-Limit": _header("Requests the key may make in the current window", example="100"),
        "RateLimit-Remaining": _header("Requests left in the current window", example="99"),
        "RateLimit-Reset": _header("Seconds until the window resets", example="3599"),
    }


def _header(description: str, *, required: bool = False, example: str | None = None) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "string"}
    if example is not None:
        schema["examples"] = [example]
    return {"description": description, "required": required, "schema": schema}


def _example(summary: str, error: ClaraError, *, after_auth: bool = True) -> dict[str, Any]:
    if after_auth:
        error.details["executionId"] = EXAMPLE_EXECUTION_ID
    return {"summary": summary, "value": error.envelope(EXAMPLE_TIME)}


def _validation_example(contract: Contract) -> dict[str, Any]:
    """What the server answers to an empty body (or, with nothing required, to an unknown field)."""
    required = [field.name for field in contract.inputs if field.required]
    if required:
        problems = [f"Missing required field: {name}" for name in required]
        pointers = [f"/{name}" for name in required]
        summary = "An empty body: every missing field is listed"
    elif contract.input_schema.get("additionalProperties") is False:
        problems, pointers = ["Unknown field: unexpectedField"], ["/unexpectedField"]
        summary = "A field the workflow does not declare"
    else:
        problems, pointers = ["Request body must be a JSON object of input fields"], [""]
        summary = "A body that is not a JSON object"
    errors = [{"path": pointer, "message": sentence} for sentence, pointer in zip(problems, pointers, strict=True)]
    return _example(summary, InputValidationFailed(problems, errors=errors))


def _error_response(description: str, examples: dict[str, Any] | None = None, **headers: Any) -> dict[str, Any]:
    """A response with the Error schema; `headers` by Python name (`Retry_After` is `Retry-After`)."""
    media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Error"}}
    if examples:
        media["examples"] = examples
    answer: dict[str, Any] = {"description": description, "content": {"application/json": media}}
    if headers:
        answer["headers"] = {name.replace("_", "-"): header for name, header in headers.items()}
    return answer


def _retry_after() -> dict[str, Any]:
    return _header("Seconds to wait before retrying", example="5")


def _www_authenticate() -> dict[str, Any]:
    return _header("The scheme to use", required=True, example='Bearer realm="clara"')


def _error_responses(contract: Contract, slug: str) -> dict[str, Any]:
    retry_after = _retry_after()
    return {
        "400": _error_response(
            "The body is not valid JSON, or the inputs do not match the input schema (every problem is listed "
            "in `validationErrors`, and in `errors` with JSON Pointers), or `mode`, `stream` or `Prefer: wait=N` "
            "is malformed (`invalid_mode`)",
            {
                "validation": _validation_example(contract),
                "malformedJson": _example(
                    "A body that is not JSON",
                    MalformedJSON("Request body is not valid JSON: Expecting value at line 1 column 1"),
                ),
            },
        ),
        "401": _error_response(
            "The API key is missing or not valid",
            {
                "missing": _example("No Authorization header", MissingAuthorization(), after_auth=False),
                "invalid": _example("A key this server did not issue", InvalidApiKey(), after_auth=False),
            },
            WWW_Authenticate=_www_authenticate(),
        ),
        "403": _error_response(
            "The key is valid but may not run this workflow",
            {"denied": _example("Not allowed", AccessDenied(), after_auth=False)},
        ),
        "404": _error_response(
            "No live workflow has this slug, or the key belongs to another workflow",
            {
                "otherWorkflow": _example(
                    "The key belongs to another workflow",
                    WorkflowNotFound(f"No workflow '{slug}' belongs to this API key"),
                    after_auth=False,
                )
            },
        ),
        "409": _error_response(
            "The Idempotency-Key was used before with another body, or its first request is still running; or, in "
            "wait mode, the run was cancelled while the request waited (`run_cancelled`)",
        ),
        "413": _error_response(
            "The body is larger than the server's MAX_INPUT_SIZE",
            {
                "tooLarge": _example(
                    "An 11 MB body",
                    PayloadTooLarge(
                        "Maximum allowed size is 10485760 bytes (10.00MB); send a smaller body",
                        details={"maxSize": 10485760, "receivedSize": 11534336},
                    ),
                )
            },
        ),
        "422": _error_response(
            "A node of the workflow failed; `nodeId` names it and `message` says why",
            {
                "nodeFailed": _example(
                    "A node failed",
                    WorkflowFailed("Node 'LLM Chat' failed: the model answered 401", details={"nodeId": "llm-1"}),
                )
            },
        ),
        "429": _error_response(
            "Too many requests; retry after the number of seconds in Retry-After", Retry_After=retry_after
        ),
        "500": _error_response(
            "An unexpected server error, or the deployed workflow no longer compiles on this server"
        ),
        "502": _error_response(
            "The workflow's outputs are larger than the server's MAX_OUTPUT_SIZE; they were not returned",
            {
                "outputTooLarge": _example(
                    "Outputs over the limit",
                    OutputTooLarge(
                        "The outputs are 12582912 bytes; MAX_OUTPUT_SIZE allows 10485760",
                        details={"maxSize": 10485760, "outputSize": 12582912},
                    ),
                )
            },
        ),
        "503": _error_response(
            "The server is at capacity or its database is unreachable; retry later",
            {"unavailable": _example("Database down", DatabaseUnavailable())},
            Retry_After=retry_after,
        ),
        "504": _error_response(
            "The workflow ran past the server's MAX_EXECUTION_TIME and was cancelled",
            {
                "timeout": _example(
                    "Timed out",
                    ExecutionTimeout("Workflow execution timeout after 300000ms; the run was cancelled"),
                )
            },
        ),
    }


def _success_example(contract: Contract, document: WorkflowDocument) -> dict[str, Any]:
    return {
        "success": True,
        "outputs": example_object(contract.output_schema),
        "metadata": {
            "duration": "45ms",
            "durationMs": 45,
            "nodesExecuted": len(contract.inputs) + len(contract.outputs),
            "timestamp": EXAMPLE_TIME,
            "executionId": EXAMPLE_EXECUTION_ID,
            "version": document.version,
            "workflow": {"id": EXAMPLE_DEPLOYMENT_ID, "name": document.name, "slug": document.slug},
        },
    }


EXAMPLE_STARTED_AT = "2025-01-01T12:00:00.000Z"
"""`startedAt` of the example node events."""


def _event_stream_example(success: Mapping[str, Any], version: int) -> str:
    """A short stream as the server sends it (it separates lines with CRLF; LF is shown here)."""
    node = {"nodeId": "llm-1", "type": "llm"}
    events: list[tuple[str, Mapping[str, Any]]] = [
        ("run.started", {"executionId": EXAMPLE_EXECUTION_ID, "version": version}),
        ("node.started", {**node, "startedAt": EXAMPLE_STARTED_AT}),
        ("llm.token", {"nodeId": "llm-1", "delta": "Hello"}),
        ("node.finished", {**node, "status": "success", "startedAt": EXAMPLE_STARTED_AT, "durationMs": 42.5}),
        ("run.finished", success),
    ]
    return "".join(
        f"id: {number}\nevent: {name}\ndata: {json.dumps(data, separators=(',', ':'))}\n\n"
        for number, (name, data) in enumerate(events, start=1)
    )


def _run_accepted_example(document: WorkflowDocument) -> dict[str, Any]:
    status_url = f"{document.base_url}/api/executions/{EXAMPLE_EXECUTION_ID}"
    return {
        "success": True,
        "executionId": EXAMPLE_EXECUTION_ID,
        "status": "running",
        "version": document.version,
        "statusUrl": status_url,
        "eventsUrl": status_url + "/events",
        "cancelUrl": status_url + "/cancel",
        "timestamp": EXAMPLE_TIME,
    }


def _ok_responses(contract: Contract, document: WorkflowDocument) -> dict[str, Any]:
    """Execute's 200 (a JSON result, or the run's events in stream mode) and 202 (the run goes on)."""
    success = _success_example(contract, document)
    accepted_headers = {
        "Location": {**_header("The run's statusUrl", required=True), "schema": {"type": "string", "format": "uri"}},
        "Preference-Applied": _header(
            "The preference honoured: `respond-async`, or `wait=N` with N as capped", example="wait=10"
        ),
    }
    return {
        "200": {
            "description": "The workflow ran; `outputs` holds one field per output node. In stream mode, the run's "
            "Server-Sent Events instead, the same body last as `run.finished` (errors found before the run "
            "starts, such as invalid inputs, are JSON error responses as in sync mode).",
            "headers": _rate_limit_headers(),
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/ExecutionResult"},
                    "examples": {"default": {"summary": "A run", "value": success}},
                },
                EVENT_STREAM: event_stream_media(_event_stream_example(success, document.version)),
            },
        },
        "202": {
            "description": "The run goes on without the caller (async mode, or wait mode past its time): follow it "
            "at `statusUrl`, `eventsUrl`, or cancel it at `cancelUrl`",
            "headers": {**accepted_headers, **_rate_limit_headers()},
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/RunAccepted"},
                    "examples": {"accepted": {"summary": "A run handed off", "value": _run_accepted_example(document)}},
                }
            },
            "links": {
                link: {"operationId": operation_id, "parameters": {"executionId": "$response.body#/executionId"}}
                for link, operation_id in (
                    ("GetExecution", "get_execution"),
                    ("GetExecutionEvents", "get_execution_events"),
                    ("CancelExecution", "cancel_execution"),
                )
            },
        },
    }


_EXECUTION_ID_PARAMETER: Mapping[str, Any] = {
    "name": "executionId",
    "in": "path",
    "required": True,
    "description": "The run's id (`executionId` of the execute response, the 202 or `run.started`)",
    "schema": {"type": "string", "format": "uuid"},
}
_EVENT_ID_SCHEMA: Mapping[str, Any] = {"type": "string", "pattern": "^[0-9]{0,9}$"}


def _run_operation(
    operation_id: str, summary: str, description: str, ok: Mapping[str, Any], **errors: Any
) -> dict[str, Any]:
    """One operation on `/api/executions/{executionId}`: the key of this deployment (or the admin)."""
    not_found = "No run of this deployment has this id (`execution_not_found`; also for a run of another deployment)"
    return {
        "operationId": operation_id,
        "summary": summary,
        "description": description
        + "\n\nThe deployment's API key opens the runs of this deployment only (the admin key, every run).",
        "tags": ["Runs"],
        "security": [{"bearerAuth": []}],
        "responses": {
            "200": ok,
            "400": _error_response("The id is not a UUID (`invalid_id`)"),
            "401": _error_response("The API key is missing or not valid", WWW_Authenticate=_www_authenticate()),
            "404": _error_response(not_found),
            **errors,
            "503": _error_response("The database is unreachable; retry later", Retry_After=_retry_after()),
        },
    }


def _execution_ok(description: str) -> dict[str, Any]:
    return {
        "description": description,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Execution"}}},
    }


def _run_paths(stream_sample: str) -> dict[str, Any]:
    events = _run_operation(
        "get_execution_events",
        "The run's events",
        "The run's Server-Sent Events, as execute's stream mode sends them: the stored events first (from "
        "the start, or after `Last-Event-ID`), then live ones until `run.finished` or `run.failed`. Only runs "
        "started in stream, async or wait mode keep an event log.",
        {
            "description": "The event stream",
            "content": {EVENT_STREAM: event_stream_media(stream_sample)},
        },
        **{
            "400": _error_response(
                "The id is not a UUID (`invalid_id`), or the event id is not a whole number (`invalid_parameter`)"
            ),
            "404": _error_response(
                "No run of this deployment has this id (`execution_not_found`), or the run was executed "
                "synchronously and kept no event log (`no_event_log`; GET the run for its trace)"
            ),
        },
    )
    events["parameters"] = [
        {
            "name": "Last-Event-ID",
            "in": "header",
            "required": False,
            "description": "Resume after this event id",
            "schema": dict(_EVENT_ID_SCHEMA),
        },
        {
            "name": "lastEventId",
            "in": "query",
            "required": False,
            "description": "Resume after this event id (for clients that cannot set headers; the header wins)",
            "schema": dict(_EVENT_ID_SCHEMA),
        },
    ]
    cancel = _run_operation(
        "cancel_execution",
        "Cancel the run",
        "Stops a run in progress and records it `cancelled` (error code `run_cancelled`); its stream ends "
        "with `run.failed`. A run going on in another server process is stopped by that process within about "
        "half a second; the answer waits up to 5 s for the `cancelled` row.",
        _execution_ok("The run as recorded after the cancel: status `cancelled`, errorCode `run_cancelled`"),
        **{
            "202": _execution_ok(
                "The cancel is recorded but the run's process has not stopped it within 5 s (it is busy, or "
                "it died: its runs are then marked `interrupted`); the run as recorded now"
            ),
            "409": _error_response("The run has already finished (`run_finished`)"),
        },
    )
    return {
        "/api/executions/{executionId}": {
            "parameters": [dict(_EXECUTION_ID_PARAMETER)],
            "get": _run_operation(
                "get_execution",
                "The run: status, inputs, outputs, trace",
                "The run as recorded: `running` while it goes on, then its final status with its outputs or error.",
                _execution_ok("The run as recorded"),
            ),
        },
        "/api/executions/{executionId}/events": {"parameters": [dict(_EXECUTION_ID_PARAMETER)], "get": events},
        "/api/executions/{executionId}/cancel": {"parameters": [dict(_EXECUTION_ID_PARAMETER)], "post": cancel},
    }


def _webhooks(contract: Contract, document: WorkflowDocument) -> dict[str, Any]:
    example = {
        "type": "run.succeeded",
        "timestamp": EXAMPLE_TIME,
        "data": {
            "executionId": EXAMPLE_EXECUTION_ID,
            "workflow": {"id": EXAMPLE_DEPLOYMENT_ID, "slug": document.slug},
            "status": "success",
            "version": document.version,
            "outputs": example_object(contract.output_schema),
            "error": None,
            "durationMs": 45,
            "createdAt": EXAMPLE_TIME,
            "finishedAt": EXAMPLE_TIME,
        },
    }
    headers = [
        {
            "name": name,
            "in": "header",
            "required": True,
            "description": description,
            "schema": {"type": "string", "examples": [value]},
        }
        for name, description, value in WEBHOOK_HEADERS
    ]
    return {
        "runFinished": {
            "post": {
                "operationId": "run_finished",
                "summary": "A run of this deployment ended",
                "security": [],
                "description": "POSTed to each webhook endpoint the admin registered for this deployment (for the "
                "events it subscribed to) and to the `callbackUrl` of a run that named one, signed as Standard "
                "Webhooks: verify `webhook-signature` over the raw body before parsing it. A delivery is retried "
                "until it is answered with a 2xx, with the same `webhook-id`. The server sends no credentials: the "
                "signature is the proof (`security` is empty).",
                "parameters": headers,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/WebhookPayload"},
                            "examples": {"succeeded": {"summary": "A successful run", "value": example}},
                        }
                    },
                },
                "responses": {"2XX": {"description": "Received. Any other answer, a redirect included, is retried."}},
            }
        }
    }


def _markdown_text(text: str) -> str:
    """`text` for a markdown field, where it must read as text: names and descriptions come from whoever
    deployed the workflow, and the docs viewers would otherwise render their HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _without_dialect(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}


def code_samples(contract: Contract, document: WorkflowDocument) -> list[dict[str, str]]:
    """The snippets in the `x-codeSamples` form ReDoc shows."""
    snippets = code_snippets(document.endpoint, example_object(contract.input_schema), document.max_execution_seconds)
    return [{"lang": snippet.lang, "label": snippet.title, "source": snippets[snippet.key]} for snippet in SNIPPETS]


def workflow_openapi(contract: Contract, document: WorkflowDocument) -> dict[str, Any]:
    """The whole document: execute, the run resources and the webhook, their schemas, errors, headers and security."""
    name, slug = document.name, document.slug
    about = _markdown_text(document.description) if document.description else None
    success = {
        "type": "object",
        "required": ["success", "outputs", "metadata"],
        "properties": {
            "success": {"const": True},
            "outputs": {"$ref": "#/components/schemas/Output"},
            "metadata": {"$ref": "#/components/schemas/ExecutionMetadata"},
        },
    }
    operation = {
        "operationId": "execute_" + slug.replace("-", "_"),
        "summary": f"Execute {name}",
        "description": (about or f"Run the deployed workflow '{_markdown_text(name)}' and return its outputs.")
        + "\n\nThe body is a JSON object with one field per input of the workflow. File fields take base64 "
        "text or a `data:` URL; every problem with the body is reported at once.\n\n" + MODES_DESCRIPTION,
        "tags": ["Workflow Execution"],
        "security": [{"bearerAuth": []}],
        "parameters": [
            dict(VERSION_HEADER_PARAMETER),
            dict(IDEMPOTENCY_KEY_PARAMETER),
            *map(dict, MODE_PARAMETERS),
            dict(CALLBACK_URL_PARAMETER),
        ],
        "requestBody": {
            "required": False,
            "description": "An empty body counts as `{}`, so a workflow without required inputs runs without one",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Input"},
                    "examples": {
                        "default": {"summary": "Example input", "value": example_object(contract.input_schema)}
                    },
                },
                "multipart/form-data": multipart_form(contract),
            },
        },
        "responses": {
            **_ok_responses(contract, document),
            **_error_responses(contract, slug),
        },
        "x-codeSamples": code_samples(contract, document),
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": name,
            "description": about or f"Deployed Clara workflow '{_markdown_text(name)}'",
            "version": str(document.version),
        },
        "servers": [{"url": document.base_url, "description": "Clara Agent Runner"}],
        "tags": [
            {"name": "Workflow Execution", "description": "Run the workflow"},
            {"name": "Runs", "description": "Follow, read and cancel a run"},
        ],
        "paths": {
            f"/api/workflows/{slug}/execute": {"post": operation},
            **_run_paths(_event_stream_example(_success_example(contract, document), document.version)),
        },
        "webhooks": _webhooks(contract, document),
        "components": {
            "schemas": {
                "Input": _without_dialect(contract.input_schema),
                "Output": _without_dialect(contract.output_schema),
                "ExecutionResult": success,
                "ExecutionMetadata": metadata_schema(),
                "Error": dict(ERROR_SCHEMA),
                "RunAccepted": run_accepted_schema(),
                **event_schemas(),
                **execution_schemas(),
                "WebhookPayload": webhook_payload_schema(),
            },
            "securitySchemes": dict(_SECURITY_SCHEMES),
        },
    }
