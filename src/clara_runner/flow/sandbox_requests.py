"""The `fetch` requests of one evaluation, performed by the server under the evaluation's caps.

Why caps: the scripts of every run share one HTTP client (the workflow client) and its connection
pool. Without them, one custom node's 700 `fetch()` calls held the pool and starved other
deployments' requests. So one evaluation has at most `max_concurrent` requests in flight (further ones
wait their turn, as a browser queues requests to a host) and makes at most `max_total` in all
(further ones are rejected inside the script, which may catch that like any failed fetch).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""`fetch(url, options)` on the Python side: returns `{status, statusText, url, headers, body}`."""

Answer = Callable[[int, str], Awaitable[None]]
"""Hands the script the answer (JSON text: `{response}` or `{error}`) to its request of that id."""


class FetchRequests:
    def __init__(self, fetch: Fetch | None, answer: Answer, max_concurrent: int, max_total: int) -> None:
        self._fetch = fetch
        self._answer = answer
        self._slots = asyncio.Semaphore(max_concurrent)
        self._max_total = max_total
        self._made = 0
        self._in_flight: set[asyncio.Task[None]] = set()

    def start(self, request: Any) -> None:
        """Perform `request` (`{id, url, options}` from the script) in the background, then answer it."""
        self._made += 1
        task = asyncio.create_task(self._serve(request, self._made <= self._max_total))
        self._in_flight.add(task)
        task.add_done_callback(self._in_flight.discard)

    async def aclose(self) -> None:
        """Cancel the requests still in flight (the evaluation is over) and wait until they are."""
        pending = list(self._in_flight)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)

    async def _serve(self, request: Any, allowed: bool) -> None:
        """Failures become answers too: the script sees a rejected fetch, never a Python traceback."""
        answer: dict[str, Any]
        try:
            if self._fetch is None:
                raise LookupError("fetch is not available in this sandbox")
            if not allowed:
                raise LookupError(
                    f"this evaluation already made {self._max_total} requests, the most one evaluation may make"
                )
            async with self._slots:
                answer = {"response": await self._fetch(str(request["url"]), request["options"])}
        except Exception as exc:
            answer = {"error": str(exc) or type(exc).__name__}
        await self._answer(int(request["id"]), json.dumps(answer, ensure_ascii=False))
