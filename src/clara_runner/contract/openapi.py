"""The OpenAPI 3.1 document of one deployed workflow.

It is built from the stored contract on request, so every replica serves the same document the
moment a version is committed, and links always use the current `BASE_URL`. It describes the one
execute operation completely: the request and response schemas with valid examples, every status the
endpoint can answer with the exact error body, the headers that come with them, the bearer scheme,
and code samples (`x-codeSamples`, which ReDoc shows).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.contract.envelopes import ERROR_SCHEMA, metadata_schema
from clara_runner.contract.examples import example_object
from clara_runner.contract.media import is_file_field
from clara_runner.contract.schema import Contract
from clara_runner.contract.snippets import code_snippets
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

_JSON_ONLY_KEYWORDS = frozenset(
    {"contentEncoding", "default", "examples", "example", "minLength", "maxLength", "pattern"}
)
"""Keywords about a file field's base64 text, which do not describe a binary part."""


def multipart_form(contract: Contract) -> dict[str, Any]:
    """The execute body as `multipart/form-data`: a binary part per file field, the other fields as in JSON.

    The server turns each file part into the data URL a JSON body would carry for the field (with the
    part's content type and file name), so one input schema holds for both content types.
    """
    input_schema = contract.input_schema
    properties: dict[str, Any] = {}
    encoding: dict[str, Any] = {}
    for name, schema in input_schema.get("properties", {}).items():
        if not is_file_field(schema):
            properties[name] = dict(schema)
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


def _error_responses(contract: Contract, slug: str) -> dict[str, Any]:
    def response(description: str, examples: dict[str, Any] | None = None, **headers: Any) -> dict[str, Any]:
        media: dict[str, Any] = {"schema": {"$ref": "#/components/schemas/Error"}}
        if examples:
            media["examples"] = examples
        answer: dict[str, Any] = {"description": description, "content": {"application/json": media}}
        if headers:
            answer["headers"] = {name.replace("_", "-"): header for name, header in headers.items()}
        return answer

    retry_after = _header("Seconds to wait before retrying", example="5")
    return {
        "400": response(
            "The body is not valid JSON, or the inputs do not match the input schema (every problem is listed "
            "in `validationErrors`, and in `errors` with JSON Pointers)",
            {
                "validation": _validation_example(contract),
                "malformedJson": _example(
                    "A body that is not JSON",
                    MalformedJSON("Request body is not valid JSON: Expecting value at line 1 column 1"),
                ),
            },
        ),
        "401": response(
            "The API key is missing or not valid",
            {
                "missing": _example("No Authorization header", MissingAuthorization(), after_auth=False),
                "invalid": _example("A key this server did not issue", InvalidApiKey(), after_auth=False),
            },
            WWW_Authenticate=_header("The scheme to use", required=True, example='Bearer realm="clara"'),
        ),
        "403": response(
            "The key is valid but may not run this workflow",
            {"denied": _example("Not allowed", AccessDenied(), after_auth=False)},
        ),
        "404": response(
            "No live workflow has this slug, or the key belongs to another workflow",
            {
                "otherWorkflow": _example(
                    "The key belongs to another workflow",
                    WorkflowNotFound(f"No workflow '{slug}' belongs to this API key"),
                    after_auth=False,
                )
            },
        ),
        "409": response(
            "The Idempotency-Key was used before with another body, or its first request is still running",
        ),
        "413": response(
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
        "422": response(
            "A node of the workflow failed; `nodeId` names it and `message` says why",
            {
                "nodeFailed": _example(
                    "A node failed",
                    WorkflowFailed("Node 'LLM Chat' failed: the model answered 401", details={"nodeId": "llm-1"}),
                )
            },
        ),
        "429": response("Too many requests; retry after the number of seconds in Retry-After", Retry_After=retry_after),
        "500": response("An unexpected server error, or the deployed workflow no longer compiles on this server"),
        "502": response(
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
        "503": response(
            "The server is at capacity or its database is unreachable; retry later",
            {"unavailable": _example("Database down", DatabaseUnavailable())},
            Retry_After=retry_after,
        ),
        "504": response(
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


def _markdown_text(text: str) -> str:
    """`text` for a markdown field, where it must read as text: names and descriptions come from whoever
    deployed the workflow, and the docs viewers would otherwise render their HTML."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _without_dialect(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}


_LANGUAGES = (
    ("curl", "Shell", "curl"),
    ("python", "Python", "Python (requests)"),
    ("javascript", "JavaScript", "fetch"),
)


def code_samples(contract: Contract, document: WorkflowDocument) -> list[dict[str, str]]:
    """The snippets in the `x-codeSamples` form ReDoc shows."""
    snippets = code_snippets(document.endpoint, example_object(contract.input_schema), document.max_execution_seconds)
    return [{"lang": lang, "label": label, "source": snippets[key]} for key, lang, label in _LANGUAGES]


def workflow_openapi(contract: Contract, document: WorkflowDocument) -> dict[str, Any]:
    """The whole document: one execute operation, its schemas, errors, headers and security."""
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
        "text or a `data:` URL; every problem with the body is reported at once.",
        "tags": ["Workflow Execution"],
        "security": [{"bearerAuth": []}],
        "parameters": [dict(VERSION_HEADER_PARAMETER), dict(IDEMPOTENCY_KEY_PARAMETER)],
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
            "200": {
                "description": "The workflow ran; `outputs` holds one field per output node",
                "headers": _rate_limit_headers(),
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/ExecutionResult"},
                        "examples": {"default": {"summary": "A run", "value": _success_example(contract, document)}},
                    }
                },
            },
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
        "tags": [{"name": "Workflow Execution", "description": "Run the workflow"}],
        "paths": {f"/api/workflows/{slug}/execute": {"post": operation}},
        "components": {
            "schemas": {
                "Input": _without_dialect(contract.input_schema),
                "Output": _without_dialect(contract.output_schema),
                "ExecutionResult": success,
                "ExecutionMetadata": metadata_schema(),
                "Error": dict(ERROR_SCHEMA),
            },
            "securitySchemes": dict(_SECURITY_SCHEMES),
        },
    }
