"""What a delivery says: the event a run's end is, and the JSON body sent for it.

    {"type": "run.succeeded" | "run.failed", "timestamp": "2026-12-08T10:00:00.000Z",
     "data": {"executionId", "workflow": {"id", "slug"}, "status", "version", "outputs",
              "error": {"code", "message"} | null, "durationMs", "createdAt", "finishedAt"}}

The body is built from the execution row alone (as stored, so outputs are already redacted), from the
row the run core hands over or, by the sweep, from the `executions` table: both give the same event.
It is built once, when the delivery is queued, and every attempt sends those exact bytes.
"""

from __future__ import annotations

from collections.abc import Iterable

import orjson

from clara_runner import jsonio
from clara_runner.clock import iso
from clara_runner.store.records import DeploymentRecord, ExecutionWrite
from clara_runner.store.webhooks import FinishedRunRecord

SUCCEEDED = "run.succeeded"
FAILED = "run.failed"
FINISHED = "run.finished"
EVENTS = (SUCCEEDED, FAILED, FINISHED)
"""What a webhook may subscribe to; `run.finished` is both of the others (a delivery's type is never it)."""


def event_of(status: str) -> str:
    """`run.succeeded` for a successful run, `run.failed` for every other final status (error, timeout,
    cancelled, interrupted)."""
    return SUCCEEDED if status == "success" else FAILED


def subscribed(events: Iterable[str], event: str) -> bool:
    return FINISHED in events or event in events


def outcome_filter(events: Iterable[str]) -> bool | None:
    """The runs a subscription wants, as the sweep asks for them: True successes only, False failures
    only, None every final run."""
    wanted = set(events)
    if FINISHED in wanted or {SUCCEEDED, FAILED} <= wanted:
        return None
    return SUCCEEDED in wanted


def finished_run(row: ExecutionWrite, deployment: DeploymentRecord) -> FinishedRunRecord:
    """The run the core hands over, as the sweep reads runs back from the table."""
    return FinishedRunRecord(
        id=row.id,
        deployment_id=row.deployment_id,
        slug=deployment.slug,
        version=row.version,
        status=row.status,
        outputs=None if row.outputs_json is None else orjson.Fragment(row.outputs_json),
        error_code=row.error_code,
        error_message=row.error_message,
        duration_ms=row.duration_ms,
        created_at=row.created_at,
        finished_at=row.finished_at,
    )


def payload(run: FinishedRunRecord) -> str:
    """The delivery's body; `outputs` is the stored JSON text (an `orjson.Fragment`) or the value read back."""
    error = None
    if run.status != "success":
        error = {"code": run.error_code, "message": run.error_message}
    body = {
        "type": event_of(run.status),
        "timestamp": iso(run.finished_at or run.created_at),
        "data": {
            "executionId": str(run.id),
            "workflow": {"id": str(run.deployment_id), "slug": run.slug},
            "status": run.status,
            "version": run.version,
            "outputs": run.outputs,
            "error": error,
            "durationMs": run.duration_ms,
            "createdAt": iso(run.created_at),
            "finishedAt": iso(run.finished_at),
        },
    }
    return jsonio.dumps(body).decode()
