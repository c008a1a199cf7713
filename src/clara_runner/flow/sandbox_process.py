"""One sandbox worker process as the server sees it: started, talked to, killed, and how it ended.

Everything here is asynchronous (asyncio subprocess and streams), so the server's event loop never
waits on a worker, whatever the worker is doing.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
from dataclasses import dataclass
from typing import Any, Final

from clara_runner.flow import sandbox_protocol as protocol
from clara_runner.flow.sandbox_protocol import WorkerConfig

_MODULE: Final = "clara_runner.flow.sandbox_worker"
_START_SECONDS: Final = 30.0
"""How long a new worker may take to initialise V8 and prepare its first isolate (~0.15 s when idle)."""
_STDERR_KEPT_CHARS: Final = 16_384
"""V8's fatal-error message comes before a C stack trace of a few kilobytes; a traceback ends in its cause."""
_MEMORY_SIGNS: Final = ("out of memory", "MemoryError")


class WorkerStartFailed(Exception):
    """A worker process did not come up (the message says how it ended)."""


@dataclass(frozen=True, slots=True)
class WorkerExit:
    """How a worker process ended."""

    returncode: int
    stderr: str

    @property
    def out_of_memory(self) -> bool:
        """V8 (`Fatal JavaScript out of memory`, whether from its own heap or from `RLIMIT_DATA`) or Python
        (`MemoryError`) said so before the process died."""
        return any(sign in self.stderr for sign in _MEMORY_SIGNS)

    @property
    def over_cpu_time(self) -> bool:
        """The kernel stopped it at its `RLIMIT_CPU`."""
        return self.returncode == -signal.SIGXCPU

    def __str__(self) -> str:
        if self.returncode < 0:
            return f"killed by {signal.Signals(-self.returncode).name}"
        last_line = next((line for line in reversed(self.stderr.splitlines()) if line.strip()), "")
        return f"exit status {self.returncode}" + (f": {last_line.strip()}" if last_line else "")


class WorkerProcess:
    """One worker: its process, the socket to it, and the tail of what it wrote to stderr."""

    def __init__(
        self, process: asyncio.subprocess.Process, reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        self._process = process
        self._pidfd = _pidfd(process.pid)
        self._reader = reader
        self._writer = writer
        self._stderr = ""
        self.was_ready = False
        """Whether it ever reported ready (a worker that never did failed to start)."""
        self._collecting = asyncio.ensure_future(self._collect_stderr())

    @property
    def running(self) -> bool:
        return self._process.returncode is None

    @classmethod
    async def spawn(cls, memory_bytes: int, timeout_seconds: float) -> WorkerProcess:
        """Start a worker process (it reports ready once V8 is up; see `started`)."""
        ours, theirs = socket.socketpair()
        try:
            config = WorkerConfig(theirs.fileno(), os.getpid(), memory_bytes, timeout_seconds)
            process = await asyncio.create_subprocess_exec(
                sys.executable,
                "-P",
                "-m",
                _MODULE,
                config.argument(),
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE,
                pass_fds=(theirs.fileno(),),
                env=_environment(),
            )
        except OSError as exc:
            ours.close()
            raise WorkerStartFailed(f"a sandbox worker process could not be started ({exc})") from exc
        except BaseException:
            ours.close()
            raise
        finally:
            theirs.close()
        try:
            reader, writer = await asyncio.open_unix_connection(sock=ours)
        except BaseException:
            process.kill()
            raise
        return cls(process, reader, writer)

    async def started(self) -> None:
        """Wait for the worker's first `ready`; a worker that dies or hangs instead is killed and reported."""
        try:
            async with asyncio.timeout(_START_SECONDS):
                message = await self.receive()
        except TimeoutError:
            message = None
        except BaseException:
            self.kill()
            raise
        if message != {"ready": True}:
            self.kill()
            raise WorkerStartFailed(f"a sandbox worker process did not start ({await self.exited()})")
        self.was_ready = True

    async def send(self, message: dict[str, Any]) -> None:
        """Send `message`; a dead worker's socket refuses it silently (`receive` reports the death)."""
        with contextlib.suppress(ConnectionError):
            await protocol.send(self._writer, message)

    async def receive(self) -> dict[str, Any] | None:
        """The worker's next message, or None once it is gone (a worker that breaks the protocol is killed)."""
        try:
            return await protocol.receive(self._reader)
        except (protocol.BrokenStream, ValueError):
            self.kill()
            return None

    def kill(self) -> None:
        """SIGKILL: whatever runs in the worker stops at once, builtins in the middle of a call included.

        Through a pidfd where there is one: asyncio's `kill` first polls the process, and a poll that
        reaps a worker which just died robs asyncio's child watcher of its exit status.
        """
        if not self.running:
            return
        with contextlib.suppress(ProcessLookupError):
            if self._pidfd is None:
                self._process.kill()
            else:
                signal.pidfd_send_signal(self._pidfd, signal.SIGKILL)

    async def exited(self) -> WorkerExit:
        """Wait for the process to end (it is not asked to) and say how it did."""
        returncode = await self._process.wait()
        await self._collecting
        self._writer.close()
        if self._pidfd is not None:
            os.close(self._pidfd)
            self._pidfd = None
        return WorkerExit(returncode, self._stderr)

    async def _collect_stderr(self) -> None:
        stream = self._process.stderr
        assert stream is not None
        while chunk := await stream.read(4096):
            self._stderr = (self._stderr + chunk.decode(errors="replace"))[-_STDERR_KEPT_CHARS:]


def _environment() -> dict[str, str]:
    """Nothing of the server's environment (its keys and database URL live there), only where the server
    imports its code from, so the worker imports the same."""
    return {"PYTHONPATH": os.pathsep.join(entry for entry in sys.path if entry)}


def _pidfd(pid: int) -> int | None:
    """A pidfd of the process (Linux), or None where there are none or the process has already ended."""
    if not hasattr(os, "pidfd_open"):
        return None
    try:
        return os.pidfd_open(pid)
    except ProcessLookupError:
        return None
