"""The aiohttp transport under httpx2, seen from the wire: requests go out exactly as httpx2 built
them, connections are kept alive, bodies stream both ways, failures keep httpx2's exception classes,
and an answer that is abandoned or cancelled half-way closes its connection."""

from __future__ import annotations

import asyncio
import gzip
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import httpx2
import pytest

from clara_runner.flow.http_transport import AiohttpTransport, client_timeout
from tests.loopback import listening


@dataclass(frozen=True)
class Received:
    head: bytes
    """The request line and headers as they arrived."""
    body: bytes

    @property
    def request_line(self) -> str:
        return self.head.split(b"\r\n", 1)[0].decode()

    def header_lines(self) -> list[str]:
        return self.head.decode("latin-1").split("\r\n")[1:-2]

    def header(self, name: str) -> list[str]:
        return [line.split(":", 1)[1].strip() for line in self.header_lines() if line.lower().startswith(f"{name}:")]


Answer = Callable[[Received, asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


def answer(body: bytes = b"ok", *headers: str, status: str = "200 OK") -> Answer:
    async def write(_: Received, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = [f"HTTP/1.1 {status}", f"Content-Length: {len(body)}", *headers]
        writer.write(("\r\n".join(head) + "\r\n\r\n").encode() + body)
        await writer.drain()

    return write


@dataclass
class WireServer:
    """A keep-alive HTTP/1.1 server on 127.0.0.1 that records every request byte for byte."""

    reply: Answer
    port: int = 0
    received: list[Received] = field(default_factory=list)
    connections: int = 0
    closed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set when a client closed a connection."""

    def url(self, path: str = "/", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"

    async def serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                received = Received(head, b"")
                if received.header("transfer-encoding") == ["chunked"]:
                    received = Received(head, await _read_chunked(reader))
                elif lengths := received.header("content-length"):
                    received = Received(head, await reader.readexactly(int(lengths[0])))
                self.received.append(received)
                await self.reply(received, reader, writer)
        except (asyncio.IncompleteReadError, ConnectionError):
            self.closed.set()
        finally:
            writer.close()


async def _read_chunked(reader: asyncio.StreamReader) -> bytes:
    body = bytearray()
    while size := int((await reader.readuntil(b"\r\n")).strip(), 16):
        body += await reader.readexactly(size)
        await reader.readexactly(2)
    await reader.readexactly(2)
    return bytes(body)


@asynccontextmanager
async def wire_server(reply: Answer) -> AsyncIterator[WireServer]:
    server = WireServer(reply)
    async with listening(server.serve) as server.port:
        yield server


def client(timeout: float = 10) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=AiohttpTransport(), timeout=timeout)


async def test_the_request_goes_out_as_httpx2_built_it() -> None:
    async with wire_server(answer()) as server, client() as http:
        await http.post(server.url("/a%7eb/%2F?q=%7e&x=1"), content=b"raw", headers={"X-Custom-Header": "Value"})
    [request] = server.received
    assert request.request_line == "POST /a%7eb/%2F?q=%7e&x=1 HTTP/1.1"
    assert "X-Custom-Header: Value" in request.header_lines()
    assert request.header("content-length") == ["3"]
    assert request.header("content-type") == []
    assert request.header("user-agent") == [f"python-httpx2/{httpx2.__version__}"]
    assert request.body == b"raw"


async def test_cookies_are_httpx2s_alone() -> None:
    """aiohttp keeps no cookie jar of its own: once httpx2 forgets a cookie, it is not sent again."""
    async with wire_server(answer(b"ok", "Set-Cookie: session=abc; Path=/")) as server, client() as http:
        await http.get(server.url("/login", host="localhost"))
        assert http.cookies.get("session") == "abc"
        http.cookies.clear()
        await http.get(server.url("/after", host="localhost"))
    assert [request.header("cookie") for request in server.received] == [[], []]


async def test_connections_are_kept_alive_between_requests() -> None:
    async with wire_server(answer()) as server, client() as http:
        for _ in range(3):
            assert (await http.get(server.url())).text == "ok"
    assert server.connections == 1


async def test_streamed_and_multipart_uploads_arrive_whole() -> None:
    async def parts() -> AsyncIterator[bytes]:
        for part in (b"first ", b"second"):
            yield part

    async with wire_server(answer()) as server, client() as http:
        await http.post(server.url("/stream"), content=parts())
        await http.post(server.url("/form"), data={"model": "whisper-1"}, files={"file": ("a.wav", b"RIFF-audio")})
    streamed, form = server.received
    assert streamed.header("transfer-encoding") == ["chunked"]
    assert streamed.body == b"first second"
    assert form.header("content-type")[0].startswith("multipart/form-data; boundary=")
    assert form.header("content-length") == [str(len(form.body))]
    assert b'name="model"\r\n\r\nwhisper-1' in form.body
    assert b'filename="a.wav"' in form.body
    assert b"RIFF-audio" in form.body


async def test_a_streamed_answer_arrives_piece_by_piece() -> None:
    first_read = asyncio.Event()

    async def two_chunks(_: Received, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n6\r\nfirst \r\n")
        await writer.drain()
        await first_read.wait()
        writer.write(b"6\r\nsecond\r\n0\r\n\r\n")
        await writer.drain()

    pieces: list[bytes] = []
    async with wire_server(two_chunks) as server, client() as http, http.stream("GET", server.url()) as response:
        async for piece in response.aiter_bytes():
            pieces.append(piece)
            first_read.set()
    assert pieces == [b"first ", b"second"]


async def test_an_answer_abandoned_half_way_closes_its_connection() -> None:
    async def partial(_: Received, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly part")
        await writer.drain()

    async with wire_server(partial) as server, client() as http:
        async with http.stream("GET", server.url()) as response:
            assert await anext(response.aiter_bytes()) == b"only part"
        await asyncio.wait_for(server.closed.wait(), 10)


async def test_cancelling_a_request_closes_its_connection() -> None:
    arrived = asyncio.Event()

    async def never(_: Received, reader: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
        arrived.set()
        await reader.read()

    async with wire_server(never) as server, client() as http:
        request = asyncio.create_task(http.get(server.url()))
        await asyncio.wait_for(arrived.wait(), 10)
        request.cancel()
        with pytest.raises(asyncio.CancelledError):
            await request
        await asyncio.wait_for(server.closed.wait(), 10)


async def test_duplicate_headers_are_kept_and_bodies_decoded_once() -> None:
    body = gzip.compress(b"decoded once")
    reply = answer(body, "Content-Encoding: gzip", "Set-Cookie: a=1", "Set-Cookie: b=2")
    async with wire_server(reply) as server, client() as http:
        response = await http.get(server.url())
    assert response.text == "decoded once"
    assert response.headers.get_list("set-cookie") == ["a=1", "b=2"]
    assert response.reason_phrase == "OK"
    assert response.http_version == "HTTP/1.1"


async def test_a_header_line_of_12_kib_is_read() -> None:
    """As long as httpx2's own parser allowed (a 16 KiB header block), beyond aiohttp's 8 KiB default."""
    policy = "default-src 'self' " + "x" * 12 * 1024
    async with wire_server(answer(b"ok", f"Content-Security-Policy: {policy}")) as server, client() as http:
        response = await http.get(server.url())
    assert response.headers["content-security-policy"] == policy


async def test_a_refused_connection_is_a_connect_error_not_a_timeout() -> None:
    async with wire_server(answer()) as server:
        port = server.port
    async with client() as http:
        with pytest.raises(httpx2.ConnectError, match="Cannot connect"):
            await http.get(f"http://127.0.0.1:{port}/")


async def _closing(_: Received, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.close()


async def _cut_short(_: Received, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc")
    await writer.drain()
    writer.close()


async def _malformed(_: Received, __: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()


@pytest.mark.parametrize("reply", [_closing, _cut_short, _malformed], ids=["closed", "cut-short", "malformed"])
async def test_a_broken_answer_is_a_remote_protocol_error(reply: Answer) -> None:
    async with wire_server(reply) as server, client() as http:
        with pytest.raises(httpx2.RemoteProtocolError):
            await http.get(server.url())


async def test_the_read_timeout_bounds_a_silent_server() -> None:
    async def silent(_: Received, reader: asyncio.StreamReader, __: asyncio.StreamWriter) -> None:
        await reader.read()

    async with wire_server(silent) as server, client(timeout=0.2) as http:
        with pytest.raises(httpx2.ReadTimeout):
            await http.get(server.url())


async def test_only_http_and_https_are_sent() -> None:
    async with client() as http:
        with pytest.raises(httpx2.UnsupportedProtocol, match="ftp://"):
            await http.get("ftp://example.com/file")


def test_timeouts_map_onto_aiohttps_without_a_total() -> None:
    mapped = client_timeout(connect=10.0, read=60.0, pool=5.0)
    assert (mapped.total, mapped.sock_connect, mapped.connect, mapped.sock_read) == (None, 10.0, 15.0, 60.0)
    unbounded = client_timeout(connect=None, read=None, pool=None)
    assert (unbounded.total, unbounded.sock_connect, unbounded.connect, unbounded.sock_read) == (None,) * 4
