"""A node failure as the coded error the API caller sees: a node deadline is a timeout (504); an egress
refusal and a script stopped at a sandbox limit fail the workflow (422) with a code of their own;
anything else is `workflow_failed` (422)."""

from __future__ import annotations

from clara_runner.errors import (
    EgressDenied,
    NodeTimeout,
    SandboxMemoryExceeded,
    SandboxTimeout,
    WorkflowFailed,
)
from clara_runner.flow.errors import NodeFailed, NodeTimedOut
from clara_runner.flow.sandbox import ScriptOutOfMemory, ScriptTimedOut
from clara_runner.security.egress import EgressBlocked

_BY_CODE: dict[str, type[WorkflowFailed] | type[NodeTimeout]] = {
    NodeTimedOut.code: NodeTimeout,
    EgressBlocked.code: EgressDenied,
    ScriptTimedOut.code: SandboxTimeout,
    ScriptOutOfMemory.code: SandboxMemoryExceeded,
}


def node_failure(exc: NodeFailed) -> WorkflowFailed | NodeTimeout:
    error_type = _BY_CODE.get(exc.code, WorkflowFailed)
    return error_type(str(exc), details={"nodeId": exc.node_id})
