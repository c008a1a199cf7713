"""How the server and a sandbox worker process talk: the worker's start configuration, then JSON objects
in length-prefixed frames over a socket.

A frame is a 4-byte big-endian length and that many bytes of UTF-8 JSON. Length-prefixed rather than
one object per line so that no reader needs a line-length limit: a script with its inputs, a result or
a fetch answer can be megabytes. Both sides use asyncio streams, so the server's event loop never
waits on a worker.

Server -> worker: `{"run": script}` (start an evaluation in the worker's fresh isolate),
`{"answer": id, "text": answer}` (a fetch answer for the evaluation in progress).
Worker -> server: `{"ready": true}` (a fresh isolate is prepared), `{"fetch": request}`, and one of
`{"outcome": envelope}`, `{"failed": message}`, `{"memory": true}` to end an evaluation.
"""

from __future__ import annotations

import asyncio
import json
import struct
from dataclasses import asdict, dataclass
from typing import Any, Final

_HEADER: Final = struct.Struct(">I")
MAX_FRAME_BYTES: Final = 1 << 30
"""A frame claiming more is a broken stream, not a message."""


@dataclass(frozen=True, slots=True)
class WorkerConfig:
    """What a worker process is started with (its one command-line argument, as JSON)."""

    fd: int
    """The worker's end of the socket to the server."""
    parent_pid: int
    memory_bytes: int
    """V8's hard heap limit of each isolate; the worker's OS memory limit derives from it."""
    timeout_seconds: float
    """The time limit of one evaluation, which the worker's CPU-time limit derives from."""

    def argument(self) -> str:
        return json.dumps(asdict(self))

    @classmethod
    def parse(cls, argument: str) -> WorkerConfig:
        return cls(**json.loads(argument))


class BrokenStream(Exception):
    """The other side sent something that is not a frame of this protocol."""


async def receive(reader: asyncio.StreamReader) -> dict[str, Any] | None:
    """The next message, or None once the other side has closed the stream (or died mid-frame)."""
    try:
        (size,) = _HEADER.unpack(await reader.readexactly(_HEADER.size))
        if size > MAX_FRAME_BYTES:
            raise BrokenStream(f"a frame of {size} bytes is over the {MAX_FRAME_BYTES}-byte limit")
        body = await reader.readexactly(size)
    except (asyncio.IncompleteReadError, ConnectionError):
        return None
    message = json.loads(body)
    if not isinstance(message, dict):
        raise BrokenStream("a frame does not hold a JSON object")
    return message


async def send(writer: asyncio.StreamWriter, message: dict[str, Any]) -> None:
    """Queue `message` whole (frames of concurrent senders never interleave) and wait for buffer room."""
    body = json.dumps(message, ensure_ascii=False).encode()
    writer.write(_HEADER.pack(len(body)) + body)
    await writer.drain()
