"""JSON Schemas of the envelopes every response shares: the error body and the execution metadata.

`ERROR_SCHEMA` describes exactly what `ClaraError.envelope` produces, every detail key included, and
closes the object so a new detail key must be added here (the tests validate real error responses
against it, and schemathesis checks every response of the fuzzed documents).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

ERROR_SCHEMA: Mapping[str, Any] = {
    "type": "object",
    "description": "Every error response. `code` is stable; `message` says what to fix.",
    "required": ["success", "error", "message", "code", "timestamp"],
    "additionalProperties": False,
    "properties": {
        "success": {"const": False},
        "error": {"type": "string", "description": "Short title of the error"},
        "message": {"type": "string", "description": "What went wrong and how to fix it"},
        "code": {"type": "string", "description": "Stable machine-readable error code", "examples": ["invalid_slug"]},
        "timestamp": {"type": "string", "format": "date-time"},
        "validationErrors": {
            "type": "array",
            "items": {"type": "string"},
            "description": "Every problem found, one sentence each (validation errors only)",
        },
        "errors": {
            "type": "array",
            "description": "The same problems with the JSON Pointer of the offending value (input validation only)",
            "items": {
                "type": "object",
                "required": ["path", "message"],
                "additionalProperties": False,
                "properties": {
                    "path": {"type": "string", "description": "JSON Pointer into the request body ('' = the body)"},
                    "message": {"type": "string"},
                },
            },
        },
        "executionId": {
            "type": "string",
            "format": "uuid",
            "description": "The execution recorded for this request (errors after authentication on execute)",
        },
        "nodeId": {
            "type": "string",
            "description": (
                "The node that failed (workflow_failed, egress_blocked, value_too_large, sandbox_timeout,"
                " sandbox_memory_exceeded, node_timeout)"
            ),
        },
        "availableEndpoints": {"type": "string", "description": "Where to find the endpoint list (unknown paths)"},
        "maxSize": {
            "type": "integer",
            "description": "The size limit in bytes (payload_too_large: the body; output_too_large: the outputs)",
        },
        "receivedSize": {"type": "integer", "description": "The declared body size in bytes (payload_too_large)"},
        "outputSize": {"type": "integer", "description": "The outputs' size in bytes (output_too_large)"},
        "retryAfter": {"type": "integer", "description": "Seconds to wait before retrying (rate_limited, at_capacity)"},
        "limit": {"type": "integer", "description": "Requests allowed per window (rate_limited)"},
        "windowMs": {"type": "integer", "description": "The rate-limit window in milliseconds (rate_limited)"},
        "version": {"type": "integer", "description": "The version asked for (version_not_found and rollbacks)"},
        "header": {"type": "string", "description": "The header that was malformed (invalid_workflow_version)"},
    },
}


def metadata_schema() -> dict[str, Any]:
    """`metadata` of a successful execute response."""
    return {
        "type": "object",
        "required": ["duration", "durationMs", "nodesExecuted", "timestamp", "executionId", "workflow"],
        "properties": {
            "duration": {"type": "string", "examples": ["45ms"]},
            "durationMs": {"type": "integer", "minimum": 0},
            "nodesExecuted": {"type": "integer", "minimum": 0, "description": "Nodes that ran successfully"},
            "timestamp": {"type": "string", "format": "date-time", "description": "When the run finished"},
            "executionId": {"type": "string", "format": "uuid"},
            "version": {"type": "integer", "minimum": 1, "description": "The deployment version that ran"},
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
