"""A run's events as a Server-Sent Events response (sse-starlette: framing, heartbeats, disconnects).

Each event carries its sequence number as `id`, so a browser's `EventSource` (or any client) sends it back
as `Last-Event-ID` when it reconnects and resumes after it. Heartbeats are comment lines every
`SSE_HEARTBEAT_SECONDS`, so proxies do not close a stream that is quiet while a model thinks.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping

from sse_starlette import EventSourceResponse, ServerSentEvent

from clara_runner.service.execution.event_log import LoggedEvent


def event_stream(
    events: AsyncIterator[LoggedEvent], heartbeat_seconds: float, headers: Mapping[str, str] | None = None
) -> EventSourceResponse:
    async def frames() -> AsyncIterator[ServerSentEvent]:
        async for event in events:
            yield ServerSentEvent(data=event.data.decode(), event=event.name, id=str(event.seq))

    return EventSourceResponse(frames(), ping=heartbeat_seconds, headers=headers)
