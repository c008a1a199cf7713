"""The JavaScript sandbox: custom-node code and `if-else` expressions run in V8 (mini-racer), in worker
processes, never in the server's.

Why it looks like this:
* **Worker processes.** A script can bring V8 down: `new Array(2**30).fill(0)` grows the heap inside
  one builtin call, past V8's heap limit and deaf to termination, until V8 aborts its process with
  `Fatal JavaScript out of memory`. In the server's process that took every deployment down. So
  scripts run in a supervised pool of child processes (`sandbox_pool.py`, `sandbox_worker.py`), with
  limits the operating system enforces besides V8's; a fatal script kills only its worker, the
  evaluation fails with a precise code, and the pool starts another worker.
* **A fresh isolate per evaluation.** A reused context keeps whatever the previous script left behind
  (globals, patched built-ins such as `JSON.parse`), and V8 offers no reliable reset. A worker runs one
  evaluation at a time, each in an isolate no script has touched, closed once the answer is sent;
  it then prepares the next one. Spare workers are kept ready, so an evaluation pays neither a
  process start nor an isolate's preparation (`bench/sandbox_isolate.py` measures what remains).
* **Nothing of the server is reachable.** V8 alone has no `process`, `require`, file system or network,
  and the worker's environment holds nothing of the server's. The only way out is `fetch`: the worker
  passes the script's requests to the server, which performs them with the HTTP client the caller
  gives (the workflow client, where the egress policy applies), under per-evaluation caps
  (`sandbox_requests.py`), and hands the answers back.
* **Limits per evaluation.** The wall-clock limit is kept here: when it passes, the worker is killed
  (`SIGKILL` stops even a builtin in the middle of a call) and the evaluation fails with
  `sandbox_timeout`. Memory: V8's heap limit, and the worker's OS limits (`sandbox_worker.py`); either
  way the evaluation fails with `sandbox_memory_exceeded`. Binary buffers (`ArrayBuffer`, typed
  arrays, `WebAssembly` memory) live outside the V8 heap, so the prelude removes them.
* **The event loop is never blocked.** The server talks to workers over sockets with asyncio streams
  and starts and reaps them with asyncio subprocesses; nothing here waits on a worker synchronously.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar

from clara_runner.flow.errors import NodeError
from clara_runner.flow.sandbox_driver import TAMPERED, condition_script, node_script
from clara_runner.flow.sandbox_pool import PoolClosed, WorkerPool
from clara_runner.flow.sandbox_process import WorkerProcess, WorkerStartFailed
from clara_runner.flow.sandbox_requests import Fetch, FetchRequests

__all__ = [
    "Fetch",
    "JsSandbox",
    "SandboxClosed",
    "SandboxCrashed",
    "SandboxError",
    "SandboxLimits",
    "SandboxUnavailable",
    "ScriptError",
    "ScriptLimitExceeded",
    "ScriptOutOfMemory",
    "ScriptResult",
    "ScriptTimedOut",
]


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    timeout_seconds: float = 30.0
    """Wall-clock time one evaluation may take, fetches included (Studio's custom-node limit)."""
    memory_bytes: int = 128 * 1024 * 1024
    """Hard V8 heap limit of one evaluation's isolate; the worker's OS memory limit derives from it."""
    max_isolates: int = 8
    """Worker processes alive at once, each running one evaluation at a time; further evaluations wait."""
    max_fetch_bytes: int = 10 * 1024 * 1024
    """Largest response body `fetch` hands to a script."""
    spare_isolates: int = 2
    """Idle workers kept ready (V8 initialised, an isolate prepared), so an evaluation waits for neither."""
    max_fetches: int = 100
    """`fetch` requests one evaluation may make in all; further ones reject inside the script."""
    max_concurrent_fetches: int = 6
    """`fetch` requests of one evaluation in flight at once; further ones wait their turn."""


@dataclass(frozen=True, slots=True)
class ScriptResult:
    value: Any
    logs: tuple[tuple[str, str], ...]
    """(level, text) for each `context.log/warn/error` or `console.*` call, in order."""


class SandboxError(NodeError):
    """A script could not produce a result; the message is meant for the API caller, the class's `code`
    tells the service which failure it was."""

    def __init__(self, message: str, logs: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.logs = logs

    def about(self, subject: str) -> SandboxError:
        """This failure again (same class, so same code), its message saying what was evaluated."""
        return type(self)(f"{subject}: {self.message}", self.logs)


class ScriptError(SandboxError):
    """The script threw (or did not parse): an ordinary node failure."""


class ScriptLimitExceeded(SandboxError):
    """The script ran out of time or memory and was stopped."""


class ScriptTimedOut(ScriptLimitExceeded):
    code: ClassVar[str] = "sandbox_timeout"


class ScriptOutOfMemory(ScriptLimitExceeded):
    code: ClassVar[str] = "sandbox_memory_exceeded"


class SandboxCrashed(SandboxError):
    """The worker running the script died of something else than a limit (killed from outside, a crash)."""


class SandboxUnavailable(SandboxError):
    """No worker process could be started."""


class SandboxClosed(SandboxError):
    """The sandbox was shut down (the server is stopping)."""


class JsSandbox:
    """Runs scripts in sandbox worker processes under the configured limits; shared by every run of a
    process, and bound to the event loop that first uses it."""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._pool = WorkerPool(self._spawn, self.limits.max_isolates, self.limits.spare_isolates)
        self._closed = False
        self.on_evaluated: Callable[[str], None] | None = None
        """Told each evaluation's outcome (`ok`, `error`, `timeout`): the server's metrics."""
        self.on_worker_started: Callable[[], None] | None = None
        """Told each time a worker process is started (at warm-up, and to replace one that was used up)."""

    async def warm(self) -> None:
        """Start the spare workers now, e.g. while a server starts."""
        await self._pool.warm()

    async def run_node(
        self, code: str, inputs: Mapping[str, Any], properties: Mapping[str, Any], fetch: Fetch | None = None
    ) -> ScriptResult:
        """Run custom-node code: `execute(inputs, properties, context)` (or a top-level `return`)."""
        return await self._evaluate(node_script(code, inputs, properties, fetch is not None), fetch)

    async def condition(self, expression: str, value: Any) -> ScriptResult:
        """Evaluate an `if-else` expression with `input` (and `condition`) bound to `value`; a boolean."""
        return await self._evaluate(condition_script(expression, value), None)

    async def aclose(self) -> None:
        """Refuse new evaluations and stop every worker (running scripts included), waiting until they exit."""
        self._closed = True
        await self._pool.aclose()

    async def _spawn(self) -> WorkerProcess:
        if self.on_worker_started is not None:
            self.on_worker_started()
        return await WorkerProcess.spawn(self.limits.memory_bytes, self.limits.timeout_seconds)

    async def _evaluate(self, script: str, fetch: Fetch | None) -> ScriptResult:
        if self.on_evaluated is None:
            return await self._evaluate_once(script, fetch)
        try:
            result = await self._evaluate_once(script, fetch)
        except ScriptTimedOut:
            self.on_evaluated("timeout")
            raise
        except SandboxError:
            self.on_evaluated("error")
            raise
        self.on_evaluated("ok")
        return result

    async def _evaluate_once(self, script: str, fetch: Fetch | None) -> ScriptResult:
        if self._closed:
            raise SandboxClosed("the JavaScript sandbox is shut down")
        try:
            worker = await self._pool.acquire()
        except PoolClosed as exc:
            raise SandboxClosed("the JavaScript sandbox is shut down") from exc
        except WorkerStartFailed as exc:
            raise SandboxUnavailable(f"the JavaScript sandbox is unavailable: {exc}") from exc
        reusable = False
        try:
            ending = await self._exchange(worker, script, fetch)
            reusable = "outcome" in ending or "failed" in ending
        finally:
            self._pool.release(worker, reusable)
        return self._result(ending)

    async def _exchange(self, worker: WorkerProcess, script: str, fetch: Fetch | None) -> dict[str, Any]:
        """Send the script, serve its fetch requests, and return the message that ended its evaluation.

        When time is up the exchange stops; the caller then kills the worker (as on cancellation), so
        nothing of the script runs on. A worker that dies instead of answering is reported by how it died.
        """

        async def answer(request_id: int, text: str) -> None:
            await worker.send({"answer": request_id, "text": text})

        limits = self.limits
        requests = FetchRequests(fetch, answer, limits.max_concurrent_fetches, limits.max_fetches)
        try:
            async with asyncio.timeout(limits.timeout_seconds):
                await worker.send({"run": script})
                while (message := await worker.receive()) is not None:
                    if "fetch" not in message:
                        return message
                    requests.start(message["fetch"])
                raise await self._lost(worker)
        except TimeoutError as exc:
            raise ScriptTimedOut(
                f"the script ran longer than {_ms(limits.timeout_seconds)} ms and was stopped"
            ) from exc
        finally:
            await requests.aclose()

    async def _lost(self, worker: WorkerProcess) -> SandboxError:
        ended = await worker.exited()
        if self._closed:
            return SandboxClosed("the JavaScript sandbox was shut down while the script ran")
        if ended.out_of_memory:
            return self._out_of_memory()
        if ended.over_cpu_time:
            return ScriptTimedOut(
                f"the script used more CPU time than its {_ms(self.limits.timeout_seconds)} ms limit and was stopped"
            )
        return SandboxCrashed(f"the sandbox worker running the script stopped unexpectedly ({ended})")

    def _result(self, ending: Mapping[str, Any]) -> ScriptResult:
        if "memory" in ending:
            raise self._out_of_memory()
        if "failed" in ending:
            raise ScriptError(str(ending["failed"]))
        envelope = ending.get("outcome")
        logs = _logs(envelope.get("logs", ())) if isinstance(envelope, dict) else None
        if envelope is None or logs is None:
            raise ScriptError(TAMPERED)
        if not envelope.get("ok"):
            raise ScriptError(str(envelope.get("error") or "the script failed"), logs)
        return ScriptResult(envelope.get("value"), logs)

    def _out_of_memory(self) -> ScriptOutOfMemory:
        megabytes = self.limits.memory_bytes // (1024 * 1024)
        return ScriptOutOfMemory(f"the script used more than {megabytes} MB of memory and was stopped")


def _logs(entries: Any) -> tuple[tuple[str, str], ...] | None:
    """The envelope's `[level, text]` pairs, or None when a script that replaced built-ins garbled them."""
    if not isinstance(entries, list) or not all(isinstance(entry, list) and len(entry) == 2 for entry in entries):
        return None
    return tuple((str(level), str(text)) for level, text in entries)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
