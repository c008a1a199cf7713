"""What is applied to every run so that nothing unsafe is recorded or returned: secrets redacted
(inputs, outputs, trace, errors, log lines written during the run) and outputs bounded by
`MAX_OUTPUT_SIZE`.

`Safeguards` lives for the process; `RunGuard` is one run's view of it, and learns the run's secrets
as they become known (the workflow's keys, the values of sensitive inputs). Values leave a guard as
encoded JSON (`jsonio`), encoded once: the outputs' text is what the size check measures, the response
carries and the row stores.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from typing import Any

from clara_runner import jsonio
from clara_runner.contract.output_check import TRACE_TYPE as OUTPUT_CHECK
from clara_runner.contract.schema import ApiField
from clara_runner.errors import ClaraError, OutputTooLarge
from clara_runner.flow.plan import Plan
from clara_runner.security.redaction import (
    REDACTED,
    Redactor,
    WorkflowSecrets,
    active_redactor,
    map_json,
    secrets_in,
)

DEFAULT_MAX_OUTPUT_SIZE = 10 * 1024 * 1024
_WHOLE = "value"
_ESCAPED_NUL = b"\\u0000"


class Safeguards:
    def __init__(self, server_secrets: Redactor | None = None, max_output_size: int = DEFAULT_MAX_OUTPUT_SIZE) -> None:
        self.server = server_secrets or Redactor()
        self.max_output_size = max_output_size
        self._workflows = WorkflowSecrets()

    def begin(self) -> RunGuard:
        """Start guarding a run; log lines written from here on are redacted with what it learns.

        The caller's key needs no learning: a run starts only after it authenticated as a Clara key,
        and every `clara_sk_...` text is redacted by shape.
        """
        return RunGuard(self, self.server)

    def workflow_secrets(self, plan: Plan) -> frozenset[str]:
        return self._workflows.of(plan.flow)


class RunGuard:
    def __init__(self, safeguards: Safeguards, redactor: Redactor) -> None:
        self._safeguards = safeguards
        self.redactor = redactor
        self._token = active_redactor.set(redactor)

    def _learn(self, secrets: set[str] | frozenset[str]) -> None:
        self.redactor = self.redactor.with_secrets(secrets)
        self.activate()

    def activate(self) -> None:
        """Apply what the guard knows to log lines of the current task (after it learned on another thread,
        whose context is its own)."""
        active_redactor.set(self.redactor)

    def inputs(self, plan: Plan, fields: Sequence[ApiField], inputs: Mapping[str, Any]) -> bytes:
        """The request's inputs as recorded: the workflow's secrets, `data.sensitive` fields and fields
        named like secrets hidden; their values are learned, so an echo of them is redacted too."""
        self._learn(self._safeguards.workflow_secrets(plan))
        sensitive = {
            field.name
            for field in fields
            if field.name in inputs and plan.flow.node_by_id[field.node_id].data.get("sensitive") is True
        }
        every_value = frozenset({_WHOLE})
        marked = {secret for name in sensitive for secret in secrets_in({_WHOLE: inputs[name]}, every_value)}
        self._learn(marked | secrets_in(inputs))
        shown = {name: REDACTED if name in sensitive else value for name, value in inputs.items()}
        return jsonio.dumps(self.redactor.value(shown))

    def outputs(self, outputs: Mapping[str, Any]) -> bytes:
        """The outputs as returned, encoded; `OutputTooLarge` past `MAX_OUTPUT_SIZE` bytes.

        Outputs are redacted by value and shape only, not by field name: a workflow that hands its
        caller a token in an output named `token` means to.
        """
        encoded = jsonio.dumps(map_json(dict(outputs), self.redactor.text, leaves=self.redactor.leaves))
        limit = self._safeguards.max_output_size
        if len(encoded) > limit:
            raise OutputTooLarge(
                f"The workflow produced {len(encoded)} bytes of outputs, more than the {limit} bytes this server "
                "returns (MAX_OUTPUT_SIZE); make the workflow return less",
                details={"maxSize": limit, "outputSize": len(encoded)},
            )
        return encoded

    def error(self, error: ClaraError) -> None:
        """Redact an error's message and details in place before it is recorded and rendered."""
        error.message = self.redactor.text(error.message)
        error.details = self.redactor.value(error.details)

    def stored_text(self, text: str) -> str:
        """Text as recorded: redacted, without NUL characters (which PostgreSQL refuses)."""
        return _storable(self.redactor.text(text))

    def stored_trace(self, entries: list[dict[str, Any]]) -> bytes:
        """The trace as recorded. The server wrote everything in it but the error texts (node ids, types,
        statuses, timings), so only those, and the output check's entries, are redacted and cleaned."""
        return jsonio.dumps([self._stored_entry(entry) for entry in entries])

    def close(self) -> None:
        """The run's redactor stops applying to log lines."""
        active_redactor.reset(self._token)

    def _stored_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("type") == OUTPUT_CHECK:
            redacted: dict[str, Any] = self.redactor.value(entry, clean=_storable)
            return redacted
        if isinstance(entry.get("error"), str):
            return {**entry, "error": self.stored_text(entry["error"])}
        return entry


def stored_outputs(encoded: bytes) -> bytes:
    """The outputs as recorded: as returned, except that NUL characters (which PostgreSQL refuses in JSON)
    are removed; the inputs never hold one (the binder removes them)."""
    if _ESCAPED_NUL not in encoded:
        return encoded
    return jsonio.dumps(map_json(json.loads(encoded), _storable))


def _storable(text: str) -> str:
    return text.replace("\x00", "")
