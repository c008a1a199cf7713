"""What a run tells the world while it happens.

The runner calls an `EventSink` with these values; the same run can then feed an execution trace,
a Server-Sent Events stream or a job record without the runner knowing which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from clara_runner.clock import iso_from_timestamp

NodeStatus = Literal["success", "error", "skipped", "cancelled", "timeout"]

# Events are built for every node of every run: plain slotted classes, four times cheaper to build than
# frozen ones. Nothing changes an event after it is emitted.


@dataclass(slots=True)
class NodeStarted:
    node_id: str
    node_type: str
    started_at: float
    """`time.time()` when the node started."""


@dataclass(slots=True)
class NodeFinished:
    node_id: str
    node_type: str
    status: NodeStatus
    started_at: float
    duration_ms: float
    error: str | None = None


@dataclass(slots=True)
class NodeMessage:
    """A node's own progress: a streamed token, a log line, a retry."""

    node_id: str
    kind: str
    payload: Any


RunEvent = NodeStarted | NodeFinished | NodeMessage
EventSink = Callable[[RunEvent], None]


def discard(event: RunEvent) -> None:
    """The sink for runs nobody watches."""
    del event


class TraceRecorder:
    """Keeps one entry per finished or skipped node, in the order they finished: the execution trace."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []

    def __call__(self, event: RunEvent) -> None:
        if isinstance(event, NodeFinished):
            entry: dict[str, Any] = {
                "nodeId": event.node_id,
                "type": event.node_type,
                "status": event.status,
                "startedAt": iso_from_timestamp(event.started_at),
                "durationMs": round(event.duration_ms, 3),
            }
            if event.error is not None:
                entry["error"] = event.error
            self.entries.append(entry)


def fan_out(*sinks: EventSink) -> EventSink:
    """One sink that forwards to several."""

    def forward(event: RunEvent) -> None:
        for sink in sinks:
            sink(event)

    return forward
