"""The sandbox worker processes of a process, found in /proc (Linux): to check that none outlives its pool,
and what they run with."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

WORKER_MODULE = b"clara_runner.flow.sandbox_worker"


def worker_pids(parent: int) -> set[int]:
    """The live sandbox workers whose parent process is `parent`."""
    found: set[int] = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        status = _status(int(entry.name))
        try:
            command = (entry / "cmdline").read_bytes()
        except OSError:
            continue
        if status is not None and status[0] != "Z" and status[1] == parent and WORKER_MODULE in command:
            found.add(int(entry.name))
    return found


class StartedWorkers:
    """The sandbox workers of this process started since this object was made: a test's own, told apart from
    those of pools that earlier tests left winding down (on a loaded machine their ends can lag)."""

    def __init__(self) -> None:
        self._before = worker_pids(os.getpid())

    def alive(self) -> set[int]:
        return worker_pids(os.getpid()) - self._before

    async def alive_once(self, count: int, within_seconds: float) -> set[int]:
        """The live workers once there are `count` of them, or after `within_seconds` (starting one is a
        process start, slow on a loaded machine; the pool starts it in this event loop, so this waits
        without blocking it)."""
        deadline = time.monotonic() + within_seconds
        found = self.alive()
        while len(found) != count and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
            found = self.alive()
        return found


def alive(pid: int) -> bool:
    """The process exists and is not a zombie (an orphan nobody reaps stays one, but runs nothing)."""
    status = _status(pid)
    return status is not None and status[0] != "Z"


def survivors(pids: set[int], within_seconds: float) -> set[int]:
    """Those of `pids` still alive after waiting up to `within_seconds` for them all to end."""
    deadline = time.monotonic() + within_seconds
    while (remaining := {pid for pid in pids if alive(pid)}) and time.monotonic() < deadline:
        time.sleep(0.05)
    return remaining


def environment_names(pid: int) -> list[str]:
    """The names of the variables in the environment process `pid` started with."""
    entries = Path(f"/proc/{pid}/environ").read_bytes().split(b"\0")
    return [entry.split(b"=", 1)[0].decode() for entry in entries if entry]


def resource_limits(pid: int) -> dict[str, tuple[str, str]]:
    """(soft, hard) of each resource limit of process `pid`, by the name /proc/PID/limits gives it."""
    rows = Path(f"/proc/{pid}/limits").read_text().splitlines()[1:]
    return {row[:26].strip(): (row[26:47].strip(), row[47:68].strip()) for row in rows}


def _status(pid: int) -> tuple[str, int] | None:
    """(state, parent pid) from /proc/PID/stat, or None when there is no such process."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return None
    fields = stat[stat.rindex(")") + 2 :].split()
    return fields[0], int(fields[1])
