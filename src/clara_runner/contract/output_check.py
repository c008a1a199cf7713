"""Outputs checked against the published output schema, without failing the call.

The output schema is a promise to API clients. A run whose outputs break it (a `format: json`
output that produced an array, a required output that stayed empty) still returns what it
produced; the mismatch is written into the execution's trace as an `output-check` entry and
counted on the deployment (`outputSchemaMismatches`), so the owner sees the broken promise.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jsonschema_rs

from clara_runner.contract.schema import Contract

TRACE_TYPE = "output-check"
MAX_REPORTED = 20
"""At most this many problems are recorded per execution; `errorCount` says how many there were."""
_MAX_MESSAGE = 300


def _refuse_remote(uri: str) -> Any:
    raise ValueError(f"remote schema references are not followed: {uri}")


class OutputChecker:
    """Built once per deployment version: the output schema's compiled validator."""

    def __init__(self, contract: Contract) -> None:
        self._validator = jsonschema_rs.validator_for(
            dict(contract.output_schema), retriever=_refuse_remote, validate_formats=True
        )
        self._node_ids = {field.name: field.node_id for field in contract.outputs}

    def check(self, outputs: Mapping[str, Any]) -> dict[str, Any] | None:
        """The trace entry describing how `outputs` break the schema, or None when they match."""
        if self._validator.is_valid(outputs):
            return None
        errors = list(self._validator.iter_errors(outputs))
        return {
            "type": TRACE_TYPE,
            "status": "mismatch",
            "errorCount": len(errors),
            "errors": [self._describe(error) for error in errors[:MAX_REPORTED]],
        }

    def _describe(self, error: jsonschema_rs.ValidationError) -> dict[str, Any]:
        path = [str(part) for part in error.instance_path]
        kind = error.kind
        if not path and isinstance(kind, jsonschema_rs.ValidationErrorKind.Required):
            path = [str(kind.property)]
        message = error.message
        if len(message) > _MAX_MESSAGE:
            message = message[: _MAX_MESSAGE - 3] + "..."
        problem: dict[str, Any] = {"path": "".join(f"/{_escape(part)}" for part in path), "message": message}
        if path and path[0] in self._node_ids:
            problem["field"] = path[0]
            problem["nodeId"] = self._node_ids[path[0]]
        return problem


def _escape(part: str) -> str:
    return part.replace("~", "~0").replace("/", "~1")
