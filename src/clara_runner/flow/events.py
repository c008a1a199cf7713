"""What a run tells the world while it happens.

The runner calls an `EventSink` with these values; the same run can then feed an execution trace,
a Server-Sent Events stream or a job record without the runner knowing which.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Literal

from clara_runner.clock import iso_from_timestamp
from clara_runner.flow.usage import TokenUsage

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
    usage: TokenUsage | None = None
    """The tokens the node reported spending (LLM nodes), when it reported any."""


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
    """Keeps one entry per finished or skipped node, in the order they finished: the execution trace, and
    the run's token counts summed over the nodes that reported theirs (None while none has)."""

    def __init__(self) -> None:
        self.entries: list[dict[str, Any]] = []
        self.prompt_tokens: int | None = None
        self.completion_tokens: int | None = None

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
            if event.usage is not None:
                entry["usage"] = usage_entry(event.usage)
                self.prompt_tokens = (self.prompt_tokens or 0) + event.usage.prompt_tokens
                self.completion_tokens = (self.completion_tokens or 0) + event.usage.completion_tokens
            self.entries.append(entry)


def usage_entry(usage: TokenUsage) -> dict[str, int]:
    """A node's token counts as its trace entry and node event say them."""
    return {
        "promptTokens": usage.prompt_tokens,
        "completionTokens": usage.completion_tokens,
        "totalTokens": usage.prompt_tokens + usage.completion_tokens,
    }


def fan_out(*sinks: EventSink) -> EventSink:
    """One sink that forwards to several."""

    def forward(event: RunEvent) -> None:
        for sink in sinks:
            sink(event)

    return forward
