"""A sandbox worker process: runs the server's scripts one at a time, each in a fresh V8 isolate.

The server starts it (`sandbox_process.py`) as `python -P -m clara_runner.flow.sandbox_worker CONFIG`
with a socket to the server on an inherited file descriptor and an environment holding nothing of the
server's. Why a process of its own: a script can bring V8 down. `Fatal JavaScript out of memory`
aborts the whole process, and V8's heap limit does not stop a builtin that allocates inside one call
(`new Array(2**30).fill(0)`), which also ignores requests to terminate. Here only this worker dies;
the server tells the caller why and starts another.

The limits, from the most precise to the backstops:
* V8's hard heap limit on every isolate, reported to the server as `{"memory": true}`;
* `RLIMIT_DATA`, set once V8 is initialised: the private writable memory of the process may grow by
  twice the heap limit plus `_MEMORY_MARGIN_BYTES`, whatever allocates it, V8 or not. (`RLIMIT_AS`
  cannot be used: V8's own sandbox reserves a terabyte of address space when it starts.) V8 dies of
  it with `Fatal ... out of memory` on stderr, which the server reads;
* `RLIMIT_CPU`, re-armed before each evaluation to the CPU time used so far plus the time limit and
  `_CPU_MARGIN_SECONDS`: the kernel kills a script the server could not stop (`SIGXCPU`);
* `RLIMIT_CORE` 0: a dying worker writes no core file (its address space is a terabyte).
The server keeps the wall-clock limit: it kills the worker when an evaluation runs out of time.

A worker never outlives the server: on Linux the kernel kills it when the server dies
(`PR_SET_PDEATHSIG`), and everywhere it exits as soon as the server's end of the socket closes.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import json
import math
import os
import resource
import signal
import socket
import sys
import traceback
from collections.abc import Awaitable, Callable
from typing import Any, Final

from py_mini_racer import JSEvalException, JSOOMException, MiniRacer, mini_racer

from clara_runner.flow import sandbox_protocol as protocol
from clara_runner.flow.sandbox_driver import POLL, PRELUDE, TAMPERED, answer_script
from clara_runner.flow.sandbox_protocol import WorkerConfig

_POLL_FIRST_SECONDS: Final = 0.001
_POLL_MAX_SECONDS: Final = 0.025
_MEMORY_MARGIN_BYTES: Final = 256 * 1024 * 1024
"""Room besides twice the heap limit: the next isolate, thread stacks, fetch answers on their way in."""
_CPU_MARGIN_SECONDS: Final = 1
"""The server's wall clock normally stops a script first; the kernel's limit is the backstop."""
_PR_SET_PDEATHSIG: Final = 1

Requests = Callable[[dict[str, Any]], Awaitable[None]]
"""Passes one fetch request of the script on to whoever performs it."""


class Isolate:
    """A MiniRacer context with the heap limit and the prelude applied, used for one evaluation."""

    def __init__(self, racer: MiniRacer, stack: contextlib.ExitStack) -> None:
        self.racer = racer
        self._stack = stack

    @classmethod
    async def prepared(cls, memory_bytes: int) -> Isolate:
        stack = contextlib.ExitStack()
        try:
            racer = stack.enter_context(mini_racer(asyncio.get_running_loop()))
            racer.set_hard_memory_limit(memory_bytes)
            await racer.eval_cancelable(PRELUDE)
        except BaseException:
            stack.close()
            raise
        return cls(racer, stack)

    def close(self) -> None:
        """Dispose of the isolate, which ends whatever JavaScript still runs in it (timers included)."""
        self._stack.close()


class _Tampered(Exception):
    pass


class _OutOfMemory(Exception):
    pass


async def evaluate(
    racer: MiniRacer, script: str, requests: Requests, answers: asyncio.Queue[tuple[int, str]]
) -> dict[str, Any]:
    """Run `script` (a driver call) to its end; the message that ends the evaluation for the server."""
    try:
        return {"outcome": await _drive(racer, script, requests, answers)}
    except (JSOOMException, _OutOfMemory):
        return {"memory": True}
    except JSEvalException as exc:
        return {"failed": f"the script failed: {exc}"}
    except _Tampered:
        return {"failed": TAMPERED}


async def _drive(
    racer: MiniRacer, script: str, requests: Requests, answers: asyncio.Queue[tuple[int, str]]
) -> dict[str, Any]:
    """Start the script and follow it to its outcome, passing its fetch requests on meanwhile.

    Only `eval_cancelable` reaches into the isolate (mini-racer's synchronous calls would hold this
    loop while a script spins, and it must keep reading the server's socket). Between reports the
    isolate is polled, quickly at first, and the memory limit is checked, since a script stopped by
    it never reports. There is no clock here: the server kills the worker when time is up.
    """
    next_answer = asyncio.ensure_future(answers.get())
    delay = _POLL_FIRST_SECONDS
    try:
        report = await _report(racer, script)
        while "outcome" not in report:
            for request in report.get("requests", ()):
                await requests(request)
            done, _ = await asyncio.wait({next_answer}, timeout=delay)
            if done:
                request_id, answer = next_answer.result()
                next_answer = asyncio.ensure_future(answers.get())
                report = await _report(racer, answer_script(request_id, answer))
                delay = _POLL_FIRST_SECONDS
                continue
            if racer.was_hard_memory_limit_reached():
                raise _OutOfMemory
            report = await _report(racer, POLL)
            delay = min(delay * 2, _POLL_MAX_SECONDS)
    finally:
        next_answer.cancel()
    envelope = _json_object(report["outcome"])
    if envelope is None:
        raise _Tampered
    return envelope


async def _report(racer: MiniRacer, script: str) -> dict[str, Any]:
    report = _json_object(await racer.eval_cancelable(script))
    if report is None:
        raise _Tampered
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


class _Inbox:
    """What the server sends, sorted: scripts to run, and fetch answers for the evaluation in progress.

    Each run gets a new answers queue when its `run` message arrives. An answer the server sent for
    an evaluation that had already ended arrives before the next `run` (the stream keeps order), so
    it lands in the old queue, which nobody reads, and never reaches a later script.
    """

    def __init__(self) -> None:
        self.runs: asyncio.Queue[tuple[str, asyncio.Queue[tuple[int, str]]]] = asyncio.Queue()
        self._answers: asyncio.Queue[tuple[int, str]] = asyncio.Queue()

    async def listen(self, reader: asyncio.StreamReader) -> None:
        """Sort messages until the server closes the socket, then end the process: the server is gone
        (or sent something it never would, in which case the traceback says what)."""
        try:
            while (message := await protocol.receive(reader)) is not None:
                if "run" in message:
                    self._answers = asyncio.Queue()
                    self.runs.put_nowait((str(message["run"]), self._answers))
                elif "answer" in message:
                    self._answers.put_nowait((int(message["answer"]), str(message["text"])))
        except Exception:
            traceback.print_exc()
            os._exit(1)
        os._exit(0)


async def serve(config: WorkerConfig) -> None:
    """Serve the server over the socket until it goes away (the listener then ends the process)."""
    reader, writer = await asyncio.open_unix_connection(sock=socket.socket(fileno=config.fd))
    inbox = _Inbox()
    async with asyncio.TaskGroup() as tasks:
        tasks.create_task(inbox.listen(reader))
        tasks.create_task(_run_scripts(config, inbox, writer))


async def _run_scripts(config: WorkerConfig, inbox: _Inbox, writer: asyncio.StreamWriter) -> None:
    """Prepare an isolate, say ready, run one script in it, send how it ended, close it; again.

    The isolate is closed after the answer is sent (closing takes half a millisecond, a third of an
    evaluation): what the script still does then (a timer) can no longer reach the server, since its
    fetch requests are no longer passed on, and closing ends it. A timer that a builtin keeps from
    ending delays the `ready`, and the server kills a worker that is not ready in time.
    """
    isolate = await Isolate.prepared(config.memory_bytes)
    _limit_memory(config.memory_bytes)

    async def pass_on(request: dict[str, Any]) -> None:
        await protocol.send(writer, {"fetch": request})

    while True:
        await protocol.send(writer, {"ready": True})
        script, answers = await inbox.runs.get()
        _arm_cpu_limit(config.timeout_seconds)
        try:
            await protocol.send(writer, await evaluate(isolate.racer, script, pass_on, answers))
        finally:
            isolate.close()
        isolate = await Isolate.prepared(config.memory_bytes)


def _die_with_parent(parent_pid: int) -> None:
    """Have the kernel kill this process when the server dies (Linux); exit now if it already has."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        if libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0) != 0:
            raise OSError(ctypes.get_errno(), "prctl(PR_SET_PDEATHSIG) failed")
    if os.getppid() != parent_pid:
        os._exit(0)


def _limit_memory(memory_bytes: int) -> None:
    """Cap the private writable memory at what it is now (V8 initialised) plus room for one evaluation."""
    current = _data_bytes()
    if current is not None:
        _, hard = resource.getrlimit(resource.RLIMIT_DATA)
        limit = current + 2 * memory_bytes + _MEMORY_MARGIN_BYTES
        resource.setrlimit(resource.RLIMIT_DATA, (_within(limit, hard),) * 2)


def _data_bytes() -> int | None:
    """`VmData` of this process (Linux), the figure `RLIMIT_DATA` applies to."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmData:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        return None
    return None


def _arm_cpu_limit(timeout_seconds: float) -> None:
    """Let the kernel stop this process once it has used the evaluation's time limit in CPU time, plus a
    margin, from now on (the hard limit stays, so the soft one can be raised again next time)."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    soft = math.ceil(usage.ru_utime + usage.ru_stime + timeout_seconds) + _CPU_MARGIN_SECONDS
    _, hard = resource.getrlimit(resource.RLIMIT_CPU)
    resource.setrlimit(resource.RLIMIT_CPU, (_within(soft, hard), hard))


def _within(wanted: int, hard: int) -> int:
    """`wanted`, unless the hard limit the server was started with is lower (it cannot be raised)."""
    return wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)


def main(argument: str) -> None:
    """Set the process-wide limits, then serve. SIGINT is ignored: a Ctrl-C in the server's terminal
    reaches its whole process group, and the server, not the signal, decides when a worker ends."""
    config = WorkerConfig.parse(argument)
    _die_with_parent(config.parent_pid)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    _arm_cpu_limit(config.timeout_seconds)
    asyncio.run(serve(config))


if __name__ == "__main__":
    main(sys.argv[1])
