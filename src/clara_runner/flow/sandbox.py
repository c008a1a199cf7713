"""The JavaScript sandbox: custom-node code and `if-else` expressions run in a V8 isolate (mini-racer).

Why it looks like this:
* **A fresh isolate per evaluation.** A reused context keeps whatever the previous script left behind
  (globals, patched built-ins such as `JSON.parse` or `Array.prototype.push`), and scripts of different
  deployments would share it; V8 offers no reliable reset. So every evaluation gets an isolate no
  script has touched, and closes it. Creating and preparing one costs a few milliseconds (see
  `bench/README.md`), so a few *spares* are prepared ahead, in the background, and an evaluation takes
  one when it is ready: the cost leaves the request's path without any isolate being used twice.
* **Nothing of the server is reachable.** V8 alone has no `process`, `require`, file system, network or
  environment. The only way out is `fetch`: the script queues a request, Python performs it with the
  HTTP client the caller passes (the workflow client, where the egress policy applies) and hands the
  answer back.
* **Limits per evaluation.** Each isolate has a hard heap limit and the evaluation a time limit.
  Binary buffers (`ArrayBuffer`, typed arrays, `WebAssembly` memory) live outside the V8 heap, where
  the limit does not see them, so they are removed from the global scope.
* **The event loop is never blocked.** Isolates are created and closed on worker threads and run on
  their own threads. Python reaches into an isolate only with `eval_cancelable` (see `_drive`), never
  with mini-racer's synchronous calls, which wait for the isolate and would freeze the server while a
  script spins in a timer or promise callback. A runaway script is stopped by closing its isolate,
  which terminates whatever JavaScript still runs in it. A semaphore bounds how many isolates run at
  once, so memory stays bounded (isolates x memory limit) and concurrent runs proceed in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from py_mini_racer import JSEvalException, JSOOMException, MiniRacer, mini_racer

from clara_runner.flow.errors import FlowError

Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""`fetch(url, options)` on the Python side: returns `{status, statusText, url, headers, body}`."""

_POLL_FIRST_SECONDS: Final = 0.001
_POLL_MAX_SECONDS: Final = 0.025
_MAX_LOG_ENTRIES: Final = 200
_MAX_LOG_CHARS: Final = 4000

_PRELUDE: Final = (
    f"({resources.files(__package__).joinpath('sandbox_prelude.js').read_text()})"
    f"({json.dumps({'maxLogEntries': _MAX_LOG_ENTRIES, 'maxLogChars': _MAX_LOG_CHARS})})"
)


@dataclass(frozen=True, slots=True)
class SandboxLimits:
    timeout_seconds: float = 30.0
    """Wall-clock time one evaluation may take, fetches included (Studio's custom-node limit)."""
    memory_bytes: int = 128 * 1024 * 1024
    """Hard V8 heap limit of one evaluation's isolate."""
    max_isolates: int = 8
    """Isolates alive at once; further evaluations wait for a free one."""
    max_fetch_bytes: int = 10 * 1024 * 1024
    """Largest response body `fetch` hands to a script."""
    spare_isolates: int = 2
    """Unused, prepared isolates kept ready so an evaluation does not wait for one to be created."""


@dataclass(frozen=True, slots=True)
class ScriptResult:
    value: Any
    logs: tuple[tuple[str, str], ...]
    """(level, text) for each `context.log/warn/error` or `console.*` call, in order."""


class SandboxError(FlowError):
    """A script could not produce a result; the message is meant for the API caller."""

    def __init__(self, message: str, logs: tuple[tuple[str, str], ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        self.logs = logs


class ScriptError(SandboxError):
    """The script threw (or did not parse)."""


class ScriptLimitExceeded(SandboxError):
    """The script ran out of time or memory and was stopped."""


class SandboxClosed(SandboxError):
    """The sandbox was shut down (the server is stopping)."""


def _tampered() -> ScriptError:
    return ScriptError("the script altered the sandbox's built-ins, so its result could not be read")


class _FirstIsolate:
    """V8 initialises process-wide memory pools while it creates the first isolate, and two first isolates
    created at once on different threads abort the process (`Check failed:
    !IsConfigurablePoolInitialized()`), so isolates are created one at a time until the first exists."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.ready = threading.Event()


_first_isolate = _FirstIsolate()


class _Isolate:
    """One MiniRacer context bound to an event loop.

    The context is created on a worker thread (creating a V8 isolate is synchronous CPU work) and
    closed on one; the limit and the prelude are then applied from the event loop without blocking it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._stack = contextlib.ExitStack()
        if _first_isolate.ready.is_set():
            self.racer: MiniRacer = self._stack.enter_context(mini_racer(loop))
            return
        with _first_isolate.lock:
            self.racer = self._stack.enter_context(mini_racer(loop))
            _first_isolate.ready.set()

    @classmethod
    async def prepared(cls, memory_bytes: int) -> _Isolate:
        creating = asyncio.ensure_future(asyncio.to_thread(cls, asyncio.get_running_loop()))
        try:
            isolate = await asyncio.shield(creating)
        except asyncio.CancelledError:
            creating.add_done_callback(_close_orphan)
            raise
        try:
            isolate.racer.set_hard_memory_limit(memory_bytes)
            await isolate.racer.eval_cancelable(_PRELUDE)
        except BaseException:
            await asyncio.shield(asyncio.to_thread(isolate.close))
            raise
        return isolate

    def close(self) -> None:
        self._stack.close()


class JsSandbox:
    """Runs scripts in fresh V8 isolates under the configured limits; shared by every run of a process."""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._slots = asyncio.Semaphore(self.limits.max_isolates)
        self._open: set[_Isolate] = set()
        self._spares: list[_Isolate] = []
        self._refills: set[asyncio.Task[None]] = set()
        self._closed = False

    async def warm(self) -> None:
        """Prepare the spare isolates now (the first one also initialises V8), e.g. while a server starts."""
        self._refill()
        await asyncio.gather(*self._refills, return_exceptions=True)

    async def run_node(
        self, code: str, inputs: Mapping[str, Any], properties: Mapping[str, Any], fetch: Fetch | None = None
    ) -> ScriptResult:
        """Run custom-node code: `execute(inputs, properties, context)` (or a top-level `return`)."""
        arguments = json.dumps({"inputs": inputs, "properties": properties}, ensure_ascii=False, default=str)
        allow_fetch = "true" if fetch is not None else "false"
        script = f"__clara.runNode({_js_string(code)}, {_js_string(arguments)}, {allow_fetch})"
        return await self._evaluate(script, fetch)

    async def condition(self, expression: str, value: Any) -> ScriptResult:
        """Evaluate an `if-else` expression with `input` (and `condition`) bound to `value`; a boolean."""
        argument = json.dumps(value, ensure_ascii=False, default=str)
        return await self._evaluate(f"__clara.condition({_js_string(expression)}, {_js_string(argument)})", None)

    async def aclose(self) -> None:
        """Refuse new evaluations, let spares in preparation finish, and close every isolate still open."""
        self._closed = True
        await asyncio.gather(*self._refills, return_exceptions=True)
        isolates = [*self._open, *self._spares]
        self._open, self._spares = set(), []
        for isolate in isolates:
            await asyncio.to_thread(isolate.close)

    async def _take(self) -> _Isolate:
        """An isolate no script has used: a ready spare of this event loop, else a new one."""
        loop = asyncio.get_running_loop()
        while self._spares:
            spare = self._spares.pop()
            if spare.loop is loop:
                self._refill()
                return spare
            await asyncio.to_thread(spare.close)
        self._refill()
        return await _Isolate.prepared(self.limits.memory_bytes)

    def _refill(self) -> None:
        while not self._closed and len(self._spares) + len(self._refills) < self.limits.spare_isolates:
            task = asyncio.get_running_loop().create_task(self._prepare_spare())
            self._refills.add(task)
            task.add_done_callback(_settled_refill(self._refills))

    async def _prepare_spare(self) -> None:
        isolate = await _Isolate.prepared(self.limits.memory_bytes)
        if self._closed:
            await asyncio.to_thread(isolate.close)
        else:
            self._spares.append(isolate)

    async def _evaluate(self, script: str, fetch: Fetch | None) -> ScriptResult:
        if self._closed:
            raise SandboxClosed("the JavaScript sandbox is shut down")
        async with self._slots:
            isolate = await self._take()
            self._open.add(isolate)
            try:
                if self._closed:
                    raise SandboxClosed("the JavaScript sandbox is shut down")
                async with asyncio.timeout(self.limits.timeout_seconds):
                    envelope = await self._drive(isolate.racer, script, fetch)
            except TimeoutError as exc:
                if isolate.racer.was_hard_memory_limit_reached():
                    raise self._out_of_memory() from exc
                raise ScriptLimitExceeded(
                    f"the script ran longer than {_ms(self.limits.timeout_seconds)} ms and was stopped"
                ) from exc
            except JSOOMException as exc:
                raise self._out_of_memory() from exc
            except JSEvalException as exc:
                raise ScriptError(f"the script failed: {exc}") from exc
            finally:
                self._open.discard(isolate)
                await asyncio.shield(asyncio.to_thread(isolate.close))
        logs = tuple((str(level), str(text)) for level, text in envelope.get("logs", ()))
        if not envelope.get("ok"):
            raise ScriptError(str(envelope.get("error") or "the script failed"), logs)
        return ScriptResult(envelope.get("value"), logs)

    async def _drive(self, racer: MiniRacer, script: str, fetch: Fetch | None) -> dict[str, Any]:
        """Start the script and follow it to its outcome, serving its fetch requests meanwhile.

        Only `eval_cancelable` reaches into the isolate: it queues a task there and is cancelled by the
        time limit, so a script busy in a timer or promise callback can never block the event loop
        (mini-racer's synchronous calls, promise awaiting and Python-function wrapping would wait for
        the isolate while holding the loop). Between reports the isolate is polled, quickly at first,
        and the memory limit is checked, since a script stopped by it never reports.
        """
        answers: asyncio.Queue[tuple[int, str]] = asyncio.Queue()
        fetching: set[asyncio.Task[None]] = set()
        next_answer = asyncio.ensure_future(answers.get())
        delay = _POLL_FIRST_SECONDS
        try:
            report = await _report(racer, script)
            while "outcome" not in report:
                for request in report.get("requests", ()):
                    task = asyncio.create_task(_answer(fetch, request, answers))
                    fetching.add(task)
                    task.add_done_callback(fetching.discard)
                done, _ = await asyncio.wait({next_answer}, timeout=delay)
                if done:
                    request_id, answer = next_answer.result()
                    next_answer = asyncio.ensure_future(answers.get())
                    report = await _report(racer, f"__clara.answer({request_id}, {_js_string(answer)})")
                    delay = _POLL_FIRST_SECONDS
                    continue
                if racer.was_hard_memory_limit_reached():
                    raise self._out_of_memory()
                report = await _report(racer, "__clara.poll()")
                delay = min(delay * 2, _POLL_MAX_SECONDS)
        finally:
            pending: list[asyncio.Future[Any]] = [next_answer, *fetching]
            for waiting in pending:
                waiting.cancel()
            await asyncio.gather(*pending, return_exceptions=True)
        envelope = _json_object(report["outcome"])
        if envelope is None:
            raise _tampered()
        return envelope

    def _out_of_memory(self) -> ScriptLimitExceeded:
        megabytes = self.limits.memory_bytes // (1024 * 1024)
        return ScriptLimitExceeded(f"the script used more than {megabytes} MB of memory and was stopped")


def _close_orphan(creating: asyncio.Future[_Isolate]) -> None:
    """Close an isolate whose creation finished after its caller was cancelled (the thread cannot be)."""
    if not creating.cancelled() and creating.exception() is None:
        creating.result().close()


def _settled_refill(refills: set[asyncio.Task[None]]) -> Callable[[asyncio.Task[None]], None]:
    """Forget a finished refill; a failed one is dropped (the next evaluation creates its own isolate
    and reports the failure to its caller)."""

    def settled(task: asyncio.Task[None]) -> None:
        refills.discard(task)
        if not task.cancelled():
            task.exception()

    return settled


async def _report(racer: MiniRacer, script: str) -> dict[str, Any]:
    report = _json_object(await racer.eval_cancelable(script))
    if report is None:
        raise _tampered()
    return report


def _json_object(text: Any) -> dict[str, Any] | None:
    """`text` parsed as a JSON object, or None (a script that replaced built-ins can garble its reports)."""
    if not isinstance(text, str):
        return None
    try:
        value = json.loads(text)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


async def _answer(fetch: Fetch | None, request: Any, answers: asyncio.Queue[tuple[int, str]]) -> None:
    """Perform one fetch request of the script and queue the answer; failures become answers too (the
    script sees a rejected fetch, never a Python traceback)."""
    answer: dict[str, Any]
    try:
        if fetch is None:
            raise LookupError("fetch is not available in this sandbox")
        answer = {"response": await fetch(str(request["url"]), request["options"])}
    except Exception as exc:
        answer = {"error": str(exc) or type(exc).__name__}
    await answers.put((int(request["id"]), json.dumps(answer, ensure_ascii=False)))


def _js_string(text: str) -> str:
    """`text` as a JavaScript string literal (JSON strings are valid ES2019 string literals)."""
    return json.dumps(text, ensure_ascii=False)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
