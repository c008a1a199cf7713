"""The OpenAPI 3.1 document of one deployed workflow.

It is built from the stored contract on request, so every replica serves the same document the
moment a version is committed, and links always use the current `BASE_URL`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from clara_runner.contract.examples import example_object
from clara_runner.contract.files import is_file_field
from clara_runner.contract.schema import Contract

_ERROR_STATUSES: Mapping[int, str] = {
    400: "Malformed JSON, or inputs that do not match the input schema (all problems listed)",
    401: "Missing or invalid API key",
    403: "The key is valid but not allowed to run this workflow",
    404: "No live workflow has this slug, or the key belongs to another workflow",
    409: "The Idempotency-Key was used with another body, or its first request is still running",
    413: "The request body is larger than MAX_INPUT_SIZE",
    422: "A node of the workflow failed; the message names it",
    429: "Rate limit exceeded; retry after the number of seconds in Retry-After",
    503: "The server is at capacity or its database is unreachable; retry later",
    504: "The workflow ran past its time limit and was cancelled",
}

ERROR_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "required": ["success", "error", "message", "code", "timestamp"],
    "properties": {
        "success": {"const": False},
        "error": {"type": "string", "description": "Short title of the error"},
        "message": {"type": "string", "description": "What went wrong and how to fix it"},
        "code": {"type": "string", "description": "Stable machine-readable error code"},
        "timestamp": {"type": "string", "format": "date-time"},
        "validationErrors": {"type": "array", "items": {"type": "string"}},
        "executionId": {"type": "string", "format": "uuid"},
        "nodeId": {"type": "string"},
    },
}


def _metadata_schema() -> dict[str, Any]:
    return {
        "type": "object",
        "required": ["duration", "durationMs", "nodesExecuted", "timestamp", "executionId", "workflow"],
        "properties": {
            "duration": {"type": "string", "examples": ["45ms"]},
            "durationMs": {"type": "integer", "minimum": 0},
            "nodesExecuted": {"type": "integer", "minimum": 0},
            "timestamp": {"type": "string", "format": "date-time"},
            "executionId": {"type": "string", "format": "uuid"},
            "version": {"type": "integer", "minimum": 1},
            "workflow": {
                "type": "object",
                "required": ["id", "name", "slug"],
                "properties": {
                    "id": {"type": "string", "format": "uuid"},
                    "name": {"type": "string"},
                    "slug": {"type": "string"},
                },
            },
        },
    }


def _without_dialect(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in schema.items() if key != "$schema"}


VERSION_HEADER_PARAMETER: Mapping[str, Any] = {
    "name": "X-Workflow-Version",
    "in": "header",
    "required": False,
    "description": "Run this version instead of the current one; the response's metadata.version names the "
    "version that ran. An unknown version is a 404 (version_not_found), a malformed one a 400.",
    "schema": {"type": "integer", "minimum": 1},
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


def workflow_openapi(
    *,
    contract: Contract,
    name: str,
    slug: str,
    description: str | None,
    base_url: str,
    version: int,
) -> dict[str, Any]:
    """The whole document: one execute operation, its schemas, errors and security."""
    error_responses = {
        str(status): {
            "description": text,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
        }
        for status, text in _ERROR_STATUSES.items()
    }
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
        "description": description or f"Run the deployed workflow '{name}' and return its outputs.",
        "tags": ["Workflow Execution"],
        "security": [{"bearerAuth": []}],
        "parameters": [
            dict(VERSION_HEADER_PARAMETER),
            {
                "name": "Idempotency-Key",
                "in": "header",
                "required": False,
                "description": "Makes retries safe: within 24 hours the same key and body replay the first "
                "response (with Idempotent-Replayed: true) instead of running again",
                "schema": {"type": "string", "minLength": 1, "maxLength": 255, "pattern": "^[ -~]+$"},
            },
        ],
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/Input"},
                    "examples": {
                        "default": {
                            "summary": "Example input",
                            "value": example_object(contract.input_schema),
                        }
                    },
                },
                "multipart/form-data": multipart_form(contract),
            },
        },
        "responses": {
            "200": {
                "description": "The workflow ran; `outputs` holds one field per output node",
                "content": {"application/json": {"schema": success}},
            },
            **error_responses,
        },
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": name,
            "description": description or f"Deployed Clara workflow '{name}'",
            "version": str(version),
        },
        "servers": [{"url": base_url, "description": "Clara Agent Runner"}],
        "paths": {f"/api/workflows/{slug}/execute": {"post": operation}},
        "components": {
            "schemas": {
                "Input": _without_dialect(contract.input_schema),
                "Output": _without_dialect(contract.output_schema),
                "ExecutionMetadata": _metadata_schema(),
                "Error": dict(ERROR_SCHEMA),
            },
            "securitySchemes": {
                "bearerAuth": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "The deployment's API key: Authorization: Bearer clara_sk_...",
                }
            },
        },
    }
