"""What a delivery says: the event a run's end is, and the JSON body sent for it.

    {"type": "run.succeeded" | "run.failed", "timestamp": "2026-12-08T10:00:00.000Z",
     "data": {"executionId", "workflow": {"id", "slug"}, "status", "version", "outputs",
              "error": {"code", "message"} | null, "durationMs", "createdAt", "finishedAt"}}

The body is built from the execution row alone (as stored, so outputs are already redacted), from the
row the run core hands over or, by the sweep, from the `executions` table: both give the same event.
It is built once, when the delivery is queued, and every attempt sends those exact bytes.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

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


@dataclass(frozen=True, slots=True)
class FinishedRun:
    execution_id: uuid.UUID
    deployment_id: uuid.UUID
    slug: str
    version: int
    status: str
    outputs: Any
    """The stored outputs: their JSON text as an `orjson.Fragment`, or the value read back from the table."""
    error_code: str | None
    error_message: str | None
    duration_ms: int | None
    created_at: datetime
    finished_at: datetime | None

    @classmethod
    def from_write(cls, row: ExecutionWrite, deployment: DeploymentRecord) -> FinishedRun:
        return cls(
            execution_id=row.id,
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

    @classmethod
    def from_record(cls, record: FinishedRunRecord) -> FinishedRun:
        return cls(
            execution_id=record.id,
            deployment_id=record.deployment_id,
            slug=record.slug,
            version=record.version,
            status=record.status,
            outputs=record.outputs,
            error_code=record.error_code,
            error_message=record.error_message,
            duration_ms=record.duration_ms,
            created_at=record.created_at,
            finished_at=record.finished_at,
        )

    @property
    def event(self) -> str:
        return event_of(self.status)

    def payload(self) -> str:
        error = None
        if self.status != "success":
            error = {"code": self.error_code, "message": self.error_message}
        body = {
            "type": self.event,
            "timestamp": iso(self.finished_at or self.created_at),
            "data": {
                "executionId": str(self.execution_id),
                "workflow": {"id": str(self.deployment_id), "slug": self.slug},
                "status": self.status,
                "version": self.version,
                "outputs": self.outputs,
                "error": error,
                "durationMs": self.duration_ms,
                "createdAt": iso(self.created_at),
                "finishedAt": iso(self.finished_at),
            },
        }
        return jsonio.dumps(body).decode()
