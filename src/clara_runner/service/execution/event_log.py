"""The event log of one run started in stream, async or wait mode: what a Server-Sent Events reader sees.

Each event gets the next sequence number (its SSE `id`), a name and its data as the JSON text sent, so
a reader that reconnects with `Last-Event-ID` resumes exactly where it stopped, live or from the
database (`event_recorder.py` persists the log in batches). The engine's events (`flow/events.py`)
become:

* `node.started` {nodeId, type, startedAt};
* `node.finished` (success), `node.skipped`, or `node.failed` (error, timeout, cancelled) with
  {nodeId, type, status, startedAt, durationMs, error?}: the error text redacted as the trace's is;
* `llm.token` {nodeId, delta}: text streamed by an `llm` or `structured-llm` node. Tokens that arrive
  in one turn of the event loop (one read from the upstream) are sent as one delta, so a fast model
  costs a handful of events per read rather than one per token, with no added delay.

The service adds `run.started` first and `run.finished` or `run.failed` last. Node values (inputs,
outputs of nodes) are never in an event: only the final body, as the caller would get it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from typing import Any, NamedTuple

from clara_runner import jsonio
from clara_runner.clock import iso_from_timestamp
from clara_runner.flow.events import NodeFinished, NodeMessage, NodeStarted, RunEvent, usage_entry
from clara_runner.store.events import encode_chunk

RUN_STARTED = "run.started"
RUN_FINISHED = "run.finished"
RUN_FAILED = "run.failed"
TERMINAL = frozenset({RUN_FINISHED, RUN_FAILED})

_FINISHED_AS = {"success": "node.finished", "skipped": "node.skipped"}


class LoggedEvent(NamedTuple):
    """A named tuple, built three times faster than a frozen dataclass: every run in stream, async or
    wait mode logs several."""

    seq: int
    name: str
    data: bytes
    """The event's data as sent: one line of JSON."""


class RunEventLog:
    """Appended to by the run, read by any number of followers; kept in memory while the run lives."""

    def __init__(self, execution_id: uuid.UUID) -> None:
        self.execution_id = execution_id
        self.events: list[LoggedEvent] = []
        self.persisted = 0
        """How many events, from the first, are stored in the database."""
        self.closed = False
        self._changed: asyncio.Event | None = None
        """Set on the next change, for followers waiting on one (made only when someone waits)."""
        self._tokens: dict[str, list[str]] = {}
        self._tokens_scheduled = False

    def append(self, name: str, data: bytes | dict[str, Any]) -> LoggedEvent:
        self._flush_tokens()
        return self._add(name, data if isinstance(data, bytes) else jsonio.dumps(data))

    def sink(self, redact: Callable[[str], str]) -> Callable[[RunEvent], None]:
        """An `EventSink` for the engine; `redact` is applied to every text a node produced."""

        def record(event: RunEvent) -> None:
            if isinstance(event, NodeMessage):
                if event.kind == "token" and isinstance(event.payload, str):
                    self._token(event.node_id, redact(event.payload))
            elif isinstance(event, NodeStarted):
                self.append(
                    "node.started",
                    {
                        "nodeId": event.node_id,
                        "type": event.node_type,
                        "startedAt": iso_from_timestamp(event.started_at),
                    },
                )
            elif isinstance(event, NodeFinished):
                data: dict[str, Any] = {
                    "nodeId": event.node_id,
                    "type": event.node_type,
                    "status": event.status,
                    "startedAt": iso_from_timestamp(event.started_at),
                    "durationMs": round(event.duration_ms, 3),
                }
                if event.error is not None:
                    data["error"] = redact(event.error)
                if event.usage is not None:
                    data["usage"] = usage_entry(event.usage)
                self.append(_FINISHED_AS.get(event.status, "node.failed"), data)

        return record

    def sealed(self) -> str:
        """The whole log, closed, in the stored chunk format: what a run's final row carries when the run
        ended before it was acknowledged (`detached.Sealing`). It counts as stored from now on."""
        self.persisted = len(self.events)
        return encode_chunk([(event.seq, event.name, event.data.decode()) for event in self.events])

    def drop(self) -> None:
        """The run went back to the queue and starts over elsewhere: its stored events were deleted with its
        requeue, and none of the rest is stored (it counts as stored, and closed)."""
        self.persisted = len(self.events)
        self.close()

    def close(self) -> None:
        """The run has ended: followers get what is left, then stop."""
        self._flush_tokens()
        self.closed = True
        self._wake()

    async def follow(self, after: int = 0) -> AsyncIterator[LoggedEvent]:
        """Every event with a sequence number above `after`, then each new one as it comes, until the log closes."""
        position = after
        while True:
            while position < len(self.events):
                position += 1
                yield self.events[position - 1]
            if self.closed:
                return
            if self._changed is None:
                self._changed = asyncio.Event()
            await self._changed.wait()

    def _token(self, node_id: str, text: str) -> None:
        if not text:
            return
        self._tokens.setdefault(node_id, []).append(text)
        if not self._tokens_scheduled:
            self._tokens_scheduled = True
            asyncio.get_running_loop().call_soon(self._flush_tokens)

    def _flush_tokens(self) -> None:
        self._tokens_scheduled = False
        if not self._tokens:
            return
        pending, self._tokens = self._tokens, {}
        for node_id, pieces in pending.items():
            self._add("llm.token", jsonio.dumps({"nodeId": node_id, "delta": "".join(pieces)}))

    def _add(self, name: str, data: bytes) -> LoggedEvent:
        event = LoggedEvent(len(self.events) + 1, name, data)
        self.events.append(event)
        self._wake()
        return event

    def _wake(self) -> None:
        if self._changed is not None:
            self._changed.set()
            self._changed = None
