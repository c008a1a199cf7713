"""uvicorn's HTTP protocol (httptools) with the two limits it lacks: time to send the request headers, and
how many connections one process keeps open.

uvicorn closes an idle keep-alive connection after a few seconds, but a connection that never sends a
complete request head stays open forever: some tens of thousands of them exhaust the process's file
limit and the server stops answering anyone, `/health` included. Here every request head must arrive
within `REQUEST_HEADER_TIMEOUT_SECONDS` of the connection opening (or of the previous response), or
the connection is answered 408 (`request_timeout`, a JSON error like every other) and closed; and a
process with `MAX_CONNECTIONS` connections open closes new ones at once, logging it (once a minute at
most, however many it closes).

`clara-runner serve` passes this class to uvicorn by name; it reads its two limits from the
environment, like the app (`Settings`).
"""

from __future__ import annotations

import asyncio
import functools
import time
from typing import Any

import structlog
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from clara_runner import jsonio
from clara_runner.clock import iso_now
from clara_runner.errors import RequestHeadTimeout
from clara_runner.settings import Settings

log = structlog.get_logger(__name__)

_REFUSAL_LOG_SECONDS = 60.0


@functools.cache
def _limits() -> tuple[float, int]:
    settings = Settings()
    return settings.request_header_timeout_seconds, settings.max_connections


class _Refusals:
    """How many connections were refused since the last log line, so a flood logs a line a minute."""

    count = 0
    logged_at = -_REFUSAL_LOG_SECONDS


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._header_timeout, self._max_connections = _limits()
        self._header_timer: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self._max_connections:
            _refused(self._max_connections)
            transport.abort()
            return
        self._await_headers()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        if self._header_timer is None:
            self._await_headers()

    def on_headers_complete(self) -> None:
        self._stop_waiting()
        super().on_headers_complete()

    def on_response_complete(self) -> None:
        super().on_response_complete()
        if not self.transport.is_closing():
            self._await_headers()

    def connection_lost(self, exc: Exception | None) -> None:
        self._stop_waiting()
        super().connection_lost(exc)

    def _await_headers(self) -> None:
        self._stop_waiting()
        self._header_timer = self.loop.call_later(self._header_timeout, self._headers_too_slow)

    def _stop_waiting(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if not self.transport.is_closing():
            self.transport.write(_timeout_response(self._header_timeout))
            self.transport.close()


def _timeout_response(seconds: float) -> bytes:
    error = RequestHeadTimeout(
        f"The request line and headers did not all arrive within {seconds:g} s "
        "(REQUEST_HEADER_TIMEOUT_SECONDS); send the whole request head at once"
    )
    body = jsonio.dumps(error.envelope(iso_now()))
    head = f"HTTP/1.1 408 Request Timeout\r\ncontent-type: application/json\r\ncontent-length: {len(body)}\r\n"
    return head.encode() + b"connection: close\r\n\r\n" + body


def _refused(limit: int) -> None:
    _Refusals.count += 1
    now = time.monotonic()
    if now - _Refusals.logged_at >= _REFUSAL_LOG_SECONDS:
        log.warning("connections_refused", limit=limit, refused=_Refusals.count, setting="MAX_CONNECTIONS")
        _Refusals.count = 0
        _Refusals.logged_at = now
