"""Backpressure: how many executions one server process runs at once, and how long others may wait.

At most `MAX_CONCURRENT_EXECUTIONS` runs per process, and at most a deployment's own
`maxConcurrency` runs of that deployment per process. A request that finds no free slot waits for one,
first in first out, for at most `QUEUE_TIMEOUT_MS`; at most `MAX_QUEUED_EXECUTIONS` requests wait at
once. Past either bound the request gets 503 `at_capacity` with `Retry-After`, so nothing queues
without bound and a client learns quickly that it should back off (or try another replica).

A request waits for its deployment's slot before it takes a process slot, so a deployment at its own
limit never holds slots that other deployments could use.
"""

from __future__ import annotations

import asyncio
import math
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

from clara_runner.errors import ClaraError


class AtCapacity(ClaraError):
    """The server is running as many executions as it may; retry after `Retry-After` seconds."""

    code = "at_capacity"
    status = 503
    error = "Server at capacity"


@dataclass
class _DeploymentGate:
    semaphore: asyncio.Semaphore
    users: int = field(default=0)


class ExecutionCapacity:
    def __init__(self, max_running: int, max_waiting: int, wait_seconds: float) -> None:
        self._max_running = max_running
        self._max_waiting = max_waiting
        self._wait_seconds = wait_seconds
        self._slots = asyncio.Semaphore(max_running)
        self._waiting = 0
        self._gates: dict[tuple[uuid.UUID, int], _DeploymentGate] = {}

    @property
    def waiting(self) -> int:
        """Requests waiting for a slot in this process now."""
        return self._waiting

    @property
    def retry_after_seconds(self) -> int:
        return max(1, math.ceil(self._wait_seconds))

    def check_room(self, deployment_id: uuid.UUID, deployment_limit: int | None) -> None:
        """Refuse at once (`AtCapacity`) a request that could neither run nor wait now: admission asks before
        it takes anything from the rate limit, so a server at capacity sheds load without database work."""
        gate = self._gates.get((deployment_id, deployment_limit)) if deployment_limit else None
        full = self._slots.locked() or (gate is not None and gate.semaphore.locked())
        if full and (self._waiting >= self._max_waiting or self._wait_seconds <= 0):
            raise self._full(deployment_limit, waited=False)

    @asynccontextmanager
    async def slot(self, deployment_id: uuid.UUID, deployment_limit: int | None) -> AsyncIterator[None]:
        """Hold an execution slot (and one of the deployment's, if it has a limit) for the block."""
        gate_key = (deployment_id, deployment_limit) if deployment_limit else None
        gate = self._enter(gate_key, deployment_limit or 0)
        try:
            held = await self._acquire([gate.semaphore, self._slots] if gate else [self._slots], deployment_limit)
            try:
                yield
            finally:
                for semaphore in held:
                    semaphore.release()
        finally:
            self._leave(gate_key)

    async def _acquire(
        self, semaphores: list[asyncio.Semaphore], deployment_limit: int | None
    ) -> list[asyncio.Semaphore]:
        must_wait = any(semaphore.locked() for semaphore in semaphores)
        if must_wait and (self._waiting >= self._max_waiting or self._wait_seconds <= 0):
            raise self._full(deployment_limit, waited=False)
        held: list[asyncio.Semaphore] = []
        self._waiting += must_wait
        try:
            async with asyncio.timeout(self._wait_seconds if must_wait else None):
                for semaphore in semaphores:
                    await semaphore.acquire()
                    held.append(semaphore)
        except BaseException as exc:
            for semaphore in held:
                semaphore.release()
            if isinstance(exc, TimeoutError):
                raise self._full(deployment_limit, waited=True) from exc
            raise
        finally:
            self._waiting -= must_wait
        return held

    def _full(self, deployment_limit: int | None, *, waited: bool) -> AtCapacity:
        if waited:
            reason = f"no execution slot became free within {round(self._wait_seconds * 1000)}ms"
        else:
            reason = f"{self._max_waiting} requests are already waiting for a slot"
        limits = f"this server runs at most {self._max_running} executions at once"
        if deployment_limit:
            limits += f" and at most {deployment_limit} of this workflow"
        retry = self.retry_after_seconds
        return AtCapacity(
            f"The server is at capacity: {limits}, and {reason}; retry after {retry} seconds",
            details={"retryAfter": retry},
            headers={"Retry-After": str(retry)},
        )

    def _enter(self, key: tuple[uuid.UUID, int] | None, limit: int) -> _DeploymentGate | None:
        if key is None:
            return None
        gate = self._gates.get(key)
        if gate is None:
            gate = self._gates[key] = _DeploymentGate(asyncio.Semaphore(limit))
        gate.users += 1
        return gate

    def _leave(self, key: tuple[uuid.UUID, int] | None) -> None:
        if key is None:
            return
        gate = self._gates[key]
        gate.users -= 1
        if gate.users == 0:
            del self._gates[key]
