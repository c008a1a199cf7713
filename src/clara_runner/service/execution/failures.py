"""A node failure as the coded error the API caller sees: a node deadline is a timeout (504); an egress
refusal, a value over the run's budget and a script stopped at a sandbox limit fail the workflow (422)
with a code of their own; anything else is `workflow_failed` (422)."""

from __future__ import annotations

import structlog

from clara_runner.errors import (
    EgressDenied,
    NodeTimeout,
    SandboxMemoryExceeded,
    SandboxTimeout,
    ValueOverBudget,
    WorkflowFailed,
)
from clara_runner.flow.budget import ValueTooLarge
from clara_runner.flow.errors import NodeFailed, NodeTimedOut, explanation
from clara_runner.flow.sandbox import ScriptOutOfMemory, ScriptTimedOut
from clara_runner.security.egress import EgressBlocked

log = structlog.get_logger(__name__)

_BY_CODE: dict[str, type[WorkflowFailed] | type[NodeTimeout]] = {
    NodeTimedOut.code: NodeTimeout,
    EgressBlocked.code: EgressDenied,
    ValueTooLarge.code: ValueOverBudget,
    ScriptTimedOut.code: SandboxTimeout,
    ScriptOutOfMemory.code: SandboxMemoryExceeded,
}


def node_failure(exc: NodeFailed, execution_id: str) -> WorkflowFailed | NodeTimeout:
    """The caller's error; a failure no node explained (a bug, or a library's surprise) is logged in full,
    since the caller is told only its class."""
    cause = exc.__cause__
    if cause is not None and explanation(cause) is None:
        log.error("node_failed_unexpectedly", execution_id=execution_id, node_id=exc.node_id, exc_info=cause)
    error_type = _BY_CODE.get(exc.code, WorkflowFailed)
    return error_type(str(exc), details={"nodeId": exc.node_id})
