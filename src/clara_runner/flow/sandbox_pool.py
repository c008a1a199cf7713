"""The supervised pool of sandbox worker processes: each runs one evaluation at a time.

* **Bounded.** At most `size` processes exist at once, busy, idle or starting; an evaluation that finds
  none idle starts one if there is room, else waits for one.
* **Spares ahead.** `spares` idle workers, V8 initialised and an isolate prepared, are kept ready, so
  an evaluation does not pay a process start (about 0.15 s) or an isolate's preparation.
* **Supervised.** Every process is watched until it exits: one that dies (a fatal script, `SIGKILL`
  from outside) leaves the pool and the spares are topped up. A worker whose evaluation did not end
  cleanly (time out, memory, cancellation) is killed rather than reused. A worker that ended its
  evaluation cleanly rejoins the idle ones once it reports a fresh isolate.
* **Closed with the sandbox.** `aclose` kills every process and waits until each has exited.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, Final

from clara_runner.flow.sandbox_process import WorkerProcess

_RECYCLE_SECONDS: Final = 5.0
"""How long a worker may take, after an evaluation, to prepare its next isolate before it is killed."""


class PoolClosed(Exception):
    pass


class WorkerPool:
    def __init__(self, spawn: Callable[[], Awaitable[WorkerProcess]], size: int, spares: int) -> None:
        self._spawn = spawn
        self._size = size
        self._spares = min(spares, size)
        self._alive: set[WorkerProcess] = set()
        self._idle: list[WorkerProcess] = []
        self._reserved = 0
        """Places taken by workers being spawned, so the bound holds before their processes exist."""
        self._spares_starting = 0
        self._recycling = 0
        """Workers preparing their next isolate after an evaluation: idle ones soon, so spares already."""
        self._waiting = 0
        """Evaluations waiting for a worker."""
        self._tasks: set[asyncio.Task[None]] = set()
        self._change = asyncio.Event()
        self._closed = False

    async def warm(self) -> None:
        """Start the spare workers now and wait until they, and the workers preparing their next isolate,
        are ready (or failed)."""
        self._refill()
        while self._spares_starting or self._recycling:
            await self._changed()

    async def acquire(self) -> WorkerProcess:
        """A ready worker, for one evaluation; give it back with `release`.

        Without an idle worker, wait for one that will soon be (a worker preparing its next isolate takes
        milliseconds; a spare being started is as quick as starting another), unless other evaluations
        wait for those already; else start one if the bound allows, else wait for any change.
        """
        while True:
            if self._closed:
                raise PoolClosed
            while self._idle:
                worker = self._idle.pop()
                if worker.running:
                    self._refill()
                    return worker
            if self._waiting < self._recycling + self._spares_starting or not self._reserve():
                self._waiting += 1
                try:
                    await self._changed()
                finally:
                    self._waiting -= 1
                continue
            worker = await self._start()
            self._refill()
            return worker

    def release(self, worker: WorkerProcess, reusable: bool) -> None:
        """Take back a worker after its evaluation: a clean one rejoins the idle ones once ready, any
        other is killed (its watcher then removes it)."""
        if reusable and not self._closed:
            self._recycling += 1
            self._track(self._recycle(worker))
        else:
            worker.kill()

    async def aclose(self) -> None:
        """Refuse new evaluations, kill every worker and wait until each has exited."""
        self._closed = True
        self._notify()
        for worker in self._alive:
            worker.kill()
        while self._tasks or self._reserved:
            if self._tasks:
                await asyncio.gather(*self._tasks, return_exceptions=True)
            else:
                await self._changed()

    def _reserve(self) -> bool:
        if len(self._alive) + self._reserved >= self._size:
            return False
        self._reserved += 1
        return True

    async def _start(self) -> WorkerProcess:
        """Start a worker in a place reserved with `_reserve` and wait until it is ready."""
        try:
            worker = await self._spawn()
        finally:
            self._reserved -= 1
            self._notify()
        self._alive.add(worker)
        self._track(self._watch(worker))
        if self._closed:
            worker.kill()
            raise PoolClosed
        await worker.started()
        return worker

    def _refill(self) -> None:
        while (
            not self._closed
            and len(self._idle) + self._recycling + self._spares_starting < self._spares
            and self._reserve()
        ):
            self._spares_starting += 1
            self._track(self._start_spare())

    async def _start_spare(self) -> None:
        """A failed start is dropped: the next evaluation starts its own worker and reports the failure."""
        try:
            worker = await self._start()
        finally:
            self._spares_starting -= 1
            self._notify()
        self._make_idle(worker)

    async def _recycle(self, worker: WorkerProcess) -> None:
        try:
            async with asyncio.timeout(_RECYCLE_SECONDS):
                message = await worker.receive()
        except TimeoutError:
            message = None
        finally:
            self._recycling -= 1
        if message == {"ready": True}:
            self._make_idle(worker)
        else:
            worker.kill()

    def _make_idle(self, worker: WorkerProcess) -> None:
        if self._closed:
            worker.kill()
            return
        self._idle.append(worker)
        self._notify()

    async def _watch(self, worker: WorkerProcess) -> None:
        """Forget the worker once it has exited, and top the spares up again, unless it never started (a
        worker that cannot start would otherwise be replaced forever)."""
        await worker.exited()
        self._alive.discard(worker)
        if worker in self._idle:
            self._idle.remove(worker)
        self._notify()
        if worker.was_ready:
            self._refill()

    def _track(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.get_running_loop().create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._tasks.discard(task)
        if not task.cancelled():
            task.exception()

    def _notify(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    async def _changed(self) -> None:
        await self._change.wait()
