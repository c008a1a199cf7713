"""A small HTTP/1.1 server on a loopback address, for tests of outbound calls (egress, deadlines).

Routes answer by path: `reply(body)` (200), `redirect(location)` (302), or `hang()` — read the
request and never answer, recording when the client closes the connection. Every request seen is
kept in `requests`, so a test can assert that a blocked call never reached the server.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def _response(status: str, headers: dict[str, str], body: bytes) -> bytes:
    head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", "Connection: close"]
    head += [f"{name}: {value}" for name, value in headers.items()]
    return ("\r\n".join(head) + "\r\n\r\n").encode() + body


def reply(body: str, content_type: str = "text/plain; charset=utf-8") -> Handler:
    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_response("200 OK", {"Content-Type": content_type}, body.encode()))
        await writer.drain()

    return handle


def redirect(location: str) -> Handler:
    async def handle(_: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(_response("302 Found", {"Location": location}, b""))
        await writer.drain()

    return handle


@dataclass
class LoopbackServer:
    host: str = "127.0.0.1"
    routes: dict[str, Handler] = field(default_factory=dict)
    requests: list[str] = field(default_factory=list)
    closed_at: list[float] = field(default_factory=list)
    """`time.monotonic()` when a client of a `hang()` route closed its connection."""
    port: int = 0
    _closed: asyncio.Event = field(default_factory=asyncio.Event)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    def hang(self) -> Handler:
        async def handle(reader: asyncio.StreamReader, _: asyncio.StreamWriter) -> None:
            while await reader.read(1024):
                pass
            self.closed_at.append(time.monotonic())
            self._closed.set()

        return handle

    async def wait_closed(self, seconds: float) -> float:
        """When a hanging request's connection was closed by the client (fails the test past `seconds`)."""
        await asyncio.wait_for(self._closed.wait(), seconds)
        return self.closed_at[0]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            method, path, _ = head.split(b"\r\n", 1)[0].decode().split(" ", 2)
            self.requests.append(f"{method} {path}")
            handler = self.routes.get(path.split("?", 1)[0])
            if handler is None:
                writer.write(_response("404 Not Found", {}, b"no route"))
                await writer.drain()
            else:
                await handler(reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@asynccontextmanager
async def listening(serve: Handler, host: str = "127.0.0.1") -> AsyncIterator[int]:
    """Accept connections on a free port of `host`, each served by `serve`, until the block ends; yields the port."""
    listener = await asyncio.start_server(serve, host, 0)
    try:
        yield listener.sockets[0].getsockname()[1]
    finally:
        listener.close()
        await listener.wait_closed()


@asynccontextmanager
async def loopback_server(host: str = "127.0.0.1", **routes: Handler) -> AsyncIterator[LoopbackServer]:
    """Serve `routes` (keyword `root` means `/`, other names `/<name>`) until the block ends."""
    server = LoopbackServer(host=host)
    server.routes.update({("/" if name == "root" else f"/{name}"): handler for name, handler in routes.items()})
    async with listening(server._serve, host) as server.port:
        yield server
