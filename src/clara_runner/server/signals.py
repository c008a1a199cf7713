"""SIGTERM and SIGINT start a drain before the ASGI server shuts down.

uvicorn answers the first signal by closing its listening socket and waiting for the requests in
flight; new clients then get "connection refused", and a run still going when its wait ends is
cancelled without a word. So the app takes the signal first: it stops taking runs (new execute
requests get a JSON 503 `shutting_down` with `Retry-After`, `/health` turns 503 so load balancers move
on), gives the runs in flight `SHUTDOWN_GRACE_SECONDS`, interrupts and records the rest, and only then
hands the signal to uvicorn's own handler, which closes the socket and runs the lifespan shutdown (the
execution writer drains there). A second signal goes straight to uvicorn, which then quits at once.
"""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

_SIGNALS = (signal.SIGTERM, signal.SIGINT)


@contextmanager
def drain_first(drain: Callable[[], Awaitable[None]]) -> Iterator[None]:
    """While active, the first SIGTERM or SIGINT runs `drain` before the handler it replaced sees it."""
    loop = asyncio.get_running_loop()
    previous: dict[int, Any] = {signum: signal.getsignal(signum) for signum in _SIGNALS}
    started = False
    tasks: set[asyncio.Task[None]] = set()

    async def drain_then_pass_on(signum: int, frame: FrameType | None) -> None:
        try:
            await drain()
        finally:
            _pass_on(previous[signum], signum, frame)

    def start(signum: int, frame: FrameType | None) -> None:
        tasks.add(loop.create_task(drain_then_pass_on(signum, frame), name="drain"))

    def on_signal(signum: int, frame: FrameType | None) -> None:
        nonlocal started
        if started:
            _pass_on(previous[signum], signum, frame)
            return
        started = True
        loop.call_soon_threadsafe(start, signum, frame)

    for signum in _SIGNALS:
        signal.signal(signum, on_signal)
    try:
        yield
    finally:
        for restored, handler in previous.items():
            signal.signal(restored, handler)


def _pass_on(handler: Any, signum: int, frame: FrameType | None) -> None:
    if callable(handler):
        handler(signum, frame)
    elif handler == signal.SIG_DFL:
        signal.signal(signum, signal.SIG_DFL)
        signal.raise_signal(signum)
