"""What the execute service applies to every run so that nothing unsafe is recorded or returned:
secrets redacted (inputs, outputs, trace, errors, log lines written during the run) and outputs
bounded by `MAX_OUTPUT_SIZE`.

`Safeguards` lives for the process; `RunGuard` is one run's view of it, and learns the run's secrets
as they become known (the workflow's keys, the values of sensitive inputs).
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Mapping, Sequence
from typing import Any

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
from clara_runner.service.output_check import TRACE_TYPE as OUTPUT_CHECK
from clara_runner.store.records import ExecutionRecord

DEFAULT_MAX_OUTPUT_SIZE = 10 * 1024 * 1024
_WHOLE = "value"


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
        self._outputs_hold_nul = False

    def _learn(self, secrets: set[str] | frozenset[str]) -> None:
        self.redactor = self.redactor.with_secrets(secrets)
        active_redactor.set(self.redactor)

    def inputs(self, plan: Plan, fields: Sequence[ApiField], inputs: Mapping[str, Any]) -> Any:
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
        return self.redactor.value(shown)

    def outputs(self, outputs: Mapping[str, Any]) -> Any:
        """The outputs as returned and recorded; `OutputTooLarge` past `MAX_OUTPUT_SIZE` bytes of JSON.

        Outputs are redacted by value and shape only, not by field name: a workflow that hands its
        caller a token in an output named `token` means to.
        """
        shown = map_json(dict(outputs), self.redactor.text)
        encoded = json.dumps(shown, ensure_ascii=False, separators=(",", ":"), default=str)
        self._outputs_hold_nul = "\\u0000" in encoded
        size = len(encoded.encode())
        limit = self._safeguards.max_output_size
        if size > limit:
            raise OutputTooLarge(
                f"The workflow produced {size} bytes of outputs, more than the {limit} bytes this server returns "
                "(MAX_OUTPUT_SIZE); make the workflow return less",
                details={"maxSize": limit, "outputSize": size},
            )
        return shown

    def error(self, error: ClaraError) -> None:
        """Redact an error's message and details in place before it is recorded and rendered."""
        error.message = self.redactor.text(error.message)
        error.details = self.redactor.value(error.details)

    def finish(self, row: ExecutionRecord) -> ExecutionRecord:
        """The row to store: redacted, with NUL characters (which PostgreSQL refuses) removed; the run's
        redactor stops applying to log lines.

        The inputs were redacted by `inputs` and hold no NUL (the binder removed them); the outputs were
        redacted by `outputs` and are walked again only when they hold a NUL. In the trace, the server
        wrote everything but the error texts (node ids, types, statuses, timings), so only those are
        redacted and cleaned.
        """
        active_redactor.reset(self._token)
        return dataclasses.replace(
            row,
            outputs=map_json(row.outputs, _storable) if self._outputs_hold_nul else row.outputs,
            error_message=None if row.error_message is None else self._storable_text(row.error_message),
            trace=[self._storable_entry(entry) for entry in row.trace],
        )

    def _storable_text(self, text: str) -> str:
        return _storable(self.redactor.text(text))

    def _storable_entry(self, entry: dict[str, Any]) -> dict[str, Any]:
        if entry.get("type") == OUTPUT_CHECK:
            redacted: dict[str, Any] = self.redactor.value(entry, clean=_storable)
            return redacted
        if isinstance(entry.get("error"), str):
            return {**entry, "error": self._storable_text(entry["error"])}
        return entry


def _storable(text: str) -> str:
    """PostgreSQL stores no NUL character in text or JSONB; a node output may still contain one."""
    return text.replace("\x00", "")
