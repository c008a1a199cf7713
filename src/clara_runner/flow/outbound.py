"""The hook a run's outbound HTTP requests pass through before they leave.

Every node reaches the network through the same HTTP transport, which serves every run at once and
knows none of them. The runner puts the run's hook (`RunContext.before_outbound`) in a context variable,
which the tasks of the run inherit; the transport awaits it before each request.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from contextvars import ContextVar

OutboundHook = Callable[[], Awaitable[None]]

active_hook: ContextVar[OutboundHook | None] = ContextVar("active_outbound_hook", default=None)


async def outbound_checkpoint() -> None:
    """Await the current run's hook, if it has one."""
    hook = active_hook.get()
    if hook is not None:
        await hook()
