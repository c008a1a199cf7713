"""A node failure as the coded error the API caller sees: a node deadline is a timeout (504), an
egress refusal and a value over the run's budget say so in their codes (422), anything else is
`workflow_failed` (422)."""

from __future__ import annotations

from clara_runner.errors import EgressDenied, NodeTimeout, ValueOverBudget, WorkflowFailed
from clara_runner.flow.budget import ValueTooLarge
from clara_runner.flow.errors import NodeFailed, NodeTimedOut
from clara_runner.security.egress import EgressBlocked

_BY_CODE: dict[str, type[WorkflowFailed] | type[NodeTimeout]] = {
    NodeTimedOut.code: NodeTimeout,
    EgressBlocked.code: EgressDenied,
    ValueTooLarge.code: ValueOverBudget,
}


def node_failure(exc: NodeFailed) -> WorkflowFailed | NodeTimeout:
    error_type = _BY_CODE.get(exc.code, WorkflowFailed)
    return error_type(str(exc), details={"nodeId": exc.node_id})
