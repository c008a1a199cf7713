"""Which of execute's modes a request asks for, read from its query, `Accept` and `Prefer` (RFC 7240).

* **sync** (the default): the response is the run's result.
* **stream**: `?stream=true`, `?mode=stream`, or `Accept: text/event-stream` without
  `application/json`: Server-Sent Events of the run, its result last.
* **async**: `?mode=async` or `Prefer: respond-async`: 202 at once with the run's URLs.
* **wait**: `Prefer: wait=N` (with or without `respond-async`): the result if the run ends within N
  seconds, else 202 as in async. N is capped at `MAX_EXECUTION_TIME`, the longest a synchronous call
  may take; the cap applied is echoed in `Preference-Applied`.

The query wins over the headers, `Accept` over `Prefer`; unknown preferences are ignored, as RFC 7240
asks, but a `wait` that is not a whole number of seconds is refused.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal

from starlette.datastructures import Headers, QueryParams

from clara_runner.contract.runs import EVENT_STREAM, QUERY_MODES
from clara_runner.errors import InvalidParameter

ModeName = Literal["sync", "stream", "async", "wait"]


class InvalidMode(InvalidParameter):
    """The execution mode asked for is not one of sync, stream or async."""

    code = "invalid_mode"


@dataclass(frozen=True, slots=True)
class RunMode:
    name: ModeName
    wait_seconds: float = 0.0
    applied: str | None = None
    """The `Preference-Applied` header value, when a preference was honoured."""

    @property
    def detached(self) -> bool:
        return self.name != "sync"


SYNC = RunMode("sync")


def requested_mode(query: QueryParams, headers: Headers, max_wait_seconds: float) -> RunMode:
    mode = query.get("mode")
    stream = query.get("stream")
    if mode is not None and mode not in QUERY_MODES:
        raise InvalidMode(f"mode must be one of: {', '.join(QUERY_MODES)} (got '{mode[:40]}')")
    if stream is not None and stream not in ("true", "false"):
        raise InvalidMode("stream must be true or false")
    if mode == "stream" or stream == "true":
        return RunMode("stream")
    if mode == "async":
        return RunMode("async", applied="respond-async")
    if mode == "sync" or stream == "false":
        return SYNC
    if _accepts_event_stream(headers.get("accept", "")):
        return RunMode("stream")
    return _preferred(headers.getlist("prefer"), max_wait_seconds)


def _accepts_event_stream(accept: str) -> bool:
    if EVENT_STREAM not in accept:
        return False
    types = {part.split(";", 1)[0].strip().lower() for part in accept.split(",")}
    return EVENT_STREAM in types and "application/json" not in types


def _preferred(values: list[str], max_wait_seconds: float) -> RunMode:
    respond_async = False
    wait: int | None = None
    for value in values:
        for preference in value.split(","):
            name, _, argument = preference.split(";", 1)[0].strip().partition("=")
            name = name.strip().lower()
            if name == "respond-async":
                respond_async = True
            elif name == "wait":
                wait = _wait_seconds(argument.strip().strip('"'))
    if wait is not None:
        applied = min(wait, math.floor(max_wait_seconds))
        return RunMode("wait", float(applied), f"wait={applied}")
    if respond_async:
        return RunMode("async", applied="respond-async")
    return SYNC


def _wait_seconds(text: str) -> int:
    if not (text.isascii() and text.isdigit() and len(text) <= 9):
        raise InvalidMode(f"Prefer: wait=N needs N as a whole number of seconds (got '{text[:40]}')")
    return int(text)
