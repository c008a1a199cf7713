"""The JavaScript sandbox: custom-node code and `if-else` expressions run in a V8 isolate (mini-racer).

Why it looks like this:
* **A fresh isolate per evaluation.** A reused context keeps whatever the previous script left behind
  (globals, patched built-ins such as `JSON.parse` or `Array.prototype.push`), and scripts of different
  deployments would share it; V8 offers no reliable reset. A fresh isolate costs about 1.5 ms of CPU
  on a worker thread (see `bench/README.md`), so every evaluation gets a new one and closes it.
* **Nothing of the server is reachable.** V8 alone has no `process`, `require`, file system, network or
  environment. The only bridge out is `fetch`, which calls back into Python and goes through the HTTP
  client the caller passes (the workflow client, where the egress policy applies).
* **Limits per evaluation.** Each isolate has a hard heap limit and the evaluation a time limit.
  Binary buffers (`ArrayBuffer`, typed arrays, `WebAssembly` memory) live outside the V8 heap, where
  the limit does not see them, so they are removed from the global scope.
* **The event loop is never blocked.** Isolates are created and closed on worker threads and run on
  their own threads; Python awaits their results. A runaway script is stopped by closing its isolate,
  which terminates whatever JavaScript still runs in it. A semaphore bounds how many isolates exist at
  once, so memory stays bounded (isolates x memory limit) and concurrent runs proceed in parallel.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from importlib import resources
from typing import Any, Final

from py_mini_racer import (
    JSEvalException,
    JSFunction,
    JSOOMException,
    JSPromise,
    JSPromiseError,
    MiniRacer,
    PythonJSConvertedTypes,
    mini_racer,
)

from clara_runner.flow.errors import FlowError

Fetch = Callable[[str, Mapping[str, Any]], Awaitable[Mapping[str, Any]]]
"""`fetch(url, options)` on the Python side: returns `{status, statusText, url, headers, body}`."""

_MEMORY_POLL_SECONDS: Final = 0.05
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


class _Isolate:
    """One MiniRacer context bound to the caller's event loop.

    The context is created on a worker thread (creating a V8 isolate is synchronous CPU work) and
    closed on one; the limit and the prelude are then applied from the event loop without blocking it.
    """

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self._stack = contextlib.ExitStack()
        self.racer: MiniRacer = self._stack.enter_context(mini_racer(loop))

    async def prepare(self, memory_bytes: int) -> None:
        self.racer.set_hard_memory_limit(memory_bytes)
        await self.racer.eval_cancelable(_PRELUDE)

    def close(self) -> None:
        self._stack.close()


class JsSandbox:
    """Runs scripts in fresh V8 isolates under the configured limits; shared by every run of a process."""

    def __init__(self, limits: SandboxLimits | None = None) -> None:
        self.limits = limits or SandboxLimits()
        self._slots = asyncio.Semaphore(self.limits.max_isolates)
        self._open: set[_Isolate] = set()
        self._closed = False

    async def run_node(
        self, code: str, inputs: Mapping[str, Any], properties: Mapping[str, Any], fetch: Fetch | None = None
    ) -> ScriptResult:
        """Run custom-node code: `execute(inputs, properties, context)` (or a top-level `return`)."""
        arguments = json.dumps({"inputs": inputs, "properties": properties}, ensure_ascii=False, default=str)
        return await self._evaluate(f"__clara.runNode({_js_string(code)}, {_js_string(arguments)})", fetch)

    async def condition(self, expression: str, value: Any) -> ScriptResult:
        """Evaluate an `if-else` expression with `input` (and `condition`) bound to `value`; a boolean."""
        argument = json.dumps(value, ensure_ascii=False, default=str)
        return await self._evaluate(f"__clara.condition({_js_string(expression)}, {_js_string(argument)})", None)

    async def aclose(self) -> None:
        """Refuse new evaluations and stop every isolate still open."""
        self._closed = True
        isolates, self._open = list(self._open), set()
        for isolate in isolates:
            await asyncio.to_thread(isolate.close)

    async def _evaluate(self, script: str, fetch: Fetch | None) -> ScriptResult:
        if self._closed:
            raise SandboxClosed("the JavaScript sandbox is shut down")
        async with self._slots:
            loop = asyncio.get_running_loop()
            isolate = await asyncio.to_thread(_Isolate, loop)
            self._open.add(isolate)
            try:
                if self._closed:
                    raise SandboxClosed("the JavaScript sandbox is shut down")
                async with asyncio.timeout(self.limits.timeout_seconds):
                    await isolate.prepare(self.limits.memory_bytes)
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
        if fetch is None:
            return await self._settle(racer, script)
        async with racer.wrap_py_function(_bridge(fetch)) as bridge:
            install = await racer.eval_cancelable("(bridge) => __clara.installFetch(bridge)")
            assert isinstance(install, JSFunction)
            await install.cancelable()(bridge)
            return await self._settle(racer, script)

    async def _settle(self, racer: MiniRacer, script: str) -> dict[str, Any]:
        """Start the script and wait for its promise, watching the memory limit while it is pending.

        A script stopped by the memory limit while its promise is pending never settles it, so the
        limit is polled rather than discovered only when the time limit expires.
        """
        promise = await racer.eval_cancelable(script)
        waiter = asyncio.ensure_future(_awaited(promise))
        try:
            while True:
                done, _ = await asyncio.wait({waiter}, timeout=_MEMORY_POLL_SECONDS)
                if done:
                    text = waiter.result()
                    break
                if racer.was_hard_memory_limit_reached():
                    raise self._out_of_memory()
        finally:
            waiter.cancel()
        envelope = json.loads(text) if isinstance(text, str) else None
        if not isinstance(envelope, dict):
            raise ScriptError("the script altered the sandbox's built-ins, so its result could not be read")
        return envelope

    def _out_of_memory(self) -> ScriptLimitExceeded:
        megabytes = self.limits.memory_bytes // (1024 * 1024)
        return ScriptLimitExceeded(f"the script used more than {megabytes} MB of memory and was stopped")


async def _awaited(value: PythonJSConvertedTypes) -> PythonJSConvertedTypes:
    """The settled value of the script's promise (the driver's promise never rejects on script errors)."""
    if not isinstance(value, JSPromise):
        return value
    try:
        settled: PythonJSConvertedTypes = await value
    except (JSEvalException, JSPromiseError) as exc:
        raise ScriptError(f"the script failed: {exc}") from exc
    return settled


def _bridge(fetch: Fetch) -> Callable[..., Awaitable[PythonJSConvertedTypes]]:
    """The Python side of the sandbox `fetch`: never raises into JS (a Python traceback would leak)."""

    async def call(resource: PythonJSConvertedTypes, options: PythonJSConvertedTypes) -> PythonJSConvertedTypes:
        try:
            response = await fetch(str(resource), json.loads(str(options)))
        except Exception as exc:
            return json.dumps({"error": str(exc) or type(exc).__name__})
        return json.dumps({"response": response}, ensure_ascii=False)

    return call


def _js_string(text: str) -> str:
    """`text` as a JavaScript string literal (JSON strings are valid ES2019 string literals)."""
    return json.dumps(text, ensure_ascii=False)


def _ms(seconds: float) -> int:
    return round(seconds * 1000)
