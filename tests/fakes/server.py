"""`LoopbackServer`: a real HTTP server on 127.0.0.1 for tests, in a thread of the test process.

Every fake external service (`openai_server`, `anthropic_server`, `mcp_proxy`, `clara_assistant`,
`http_api`, `clara_backend`, `comfyui_server`, `transcription_server`) is a `LoopbackServer` with its
own Starlette routes, and shares these abilities:

* `url`: `http://127.0.0.1:<port>`, a free port chosen at start;
* `requests`: every request received, in order, as `Recorded` (method, path, query, headers,
  raw body, `.json()`), so tests assert on what a node really sent (e.g. the `Authorization` header);
* `delay`: seconds to wait before answering any request (for timeouts and concurrency);
* `fail_next(status, body, times=1, path=None)`: answer the next `times` requests (to `path`, when
  given) with that status and JSON body instead of the normal answer;
* `drop_next(times=1, path=None)`: break the next connections mid-answer (a network error);
* use as a context manager (`with FakeOpenAI() as server:`), or `start()` / `stop()`.

`serve` runs it with uvicorn in a background thread with its own event loop, so the server answers
while a test awaits, and it is independent of the test's loop. Recorded multipart requests expose
their `form` fields and `files`; `last(path)` is the latest request to a path. To serve one from
another process (benchmarks), see `python -m tests.fakes.openai_server --help`.
"""

from __future__ import annotations

import asyncio
import email.parser
import email.policy
import json
import socket
import threading
import time
from collections import deque
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from functools import cached_property
from types import TracebackType
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import Headers
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute
from starlette.types import ASGIApp, Message, Receive, Scope, Send


@contextmanager
def serve(app: ASGIApp) -> Iterator[str]:
    """`app` served on 127.0.0.1 until the block ends; yields its base URL."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the loopback server did not start")
        time.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        # The test is over: requests still held by `delay` are dropped, not waited for (uvicorn would wait
        # for them, up to the 10 s join, on every test that left a slow call going).
        server.should_exit = server.force_exit = True
        thread.join(10)
        sock.close()


@dataclass(frozen=True)
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass(frozen=True)
class Recorded:
    """One request as the server received it."""

    method: str
    path: str
    query: str
    headers: Headers
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @cached_property
    def _parts(self) -> list[tuple[str, str | None, str, bytes]]:
        """(field name, file name, content type, bytes) of each part of a multipart/form-data body."""
        if not self.headers.get("content-type", "").startswith("multipart/form-data"):
            return []
        head = f"Content-Type: {self.headers['content-type']}\r\n\r\n".encode()
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(head + self.body)
        parts = []
        for part in message.iter_parts():
            payload = part.get_payload(decode=True)
            assert payload is None or isinstance(payload, bytes)
            name = part.get_param("name", header="content-disposition") or ""
            parts.append((str(name), part.get_filename(), part.get_content_type(), payload or b""))
        return parts

    @property
    def form(self) -> dict[str, str]:
        return {name: data.decode() for name, filename, _, data in self._parts if filename is None}

    @property
    def files(self) -> dict[str, list[UploadedFile]]:
        files: dict[str, list[UploadedFile]] = {}
        for name, filename, content_type, data in self._parts:
            if filename is not None:
                files.setdefault(name, []).append(UploadedFile(filename, content_type, data))
        return files


@dataclass(frozen=True)
class _Failure:
    status: int
    body: Any
    path: str | None
    drop: bool = False


class LoopbackServer:
    """A Starlette app served by uvicorn on a free 127.0.0.1 port (see the module docstring)."""

    def __init__(self, routes: list[BaseRoute]) -> None:
        self._app = Starlette(routes=routes)
        self.requests: list[Recorded] = []
        self.delay = 0.0
        self._failures: deque[_Failure] = deque()
        self._lock = threading.Lock()
        self._running = ExitStack()
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def fail_next(self, status: int, body: Any = None, *, times: int = 1, path: str | None = None) -> None:
        with self._lock:
            self._failures.extend(_Failure(status, body, path) for _ in range(times))

    def drop_next(self, *, times: int = 1, path: str | None = None) -> None:
        """Break the next `times` connections mid-answer: the client sees a network error."""
        with self._lock:
            self._failures.extend(_Failure(0, None, path, drop=True) for _ in range(times))

    def requests_to(self, path: str) -> list[Recorded]:
        return [request for request in self.requests if request.path == path]

    def last(self, path: str) -> Recorded:
        """The latest request to `path`."""
        return self.requests_to(path)[-1]

    def start(self) -> Self:
        url = self._running.enter_context(serve(self))
        self.port = int(url.rsplit(":", 1)[1])
        return self

    def stop(self) -> None:
        self._running.close()

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _take_failure(self, path: str) -> _Failure | None:
        with self._lock:
            for failure in self._failures:
                if failure.path is None or failure.path == path:
                    self._failures.remove(failure)
                    return failure
        return None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self._app(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            body.extend(message.get("body", b""))
            if not message.get("more_body"):
                break
        path = scope["path"]
        query = scope.get("query_string", b"").decode()
        self.requests.append(Recorded(scope["method"], path, query, Headers(scope=scope), bytes(body)))
        failure = self._take_failure(path)
        if failure is not None and failure.drop:
            await _break_connection(send)
            return
        if failure is not None:
            await JSONResponse(failure.body, status_code=failure.status)(scope, receive, send)
            return
        if self.delay:
            await asyncio.sleep(self.delay)
        replayed = False

        async def replay() -> Message:
            nonlocal replayed
            if replayed:
                return await receive()
            replayed = True
            return {"type": "http.request", "body": bytes(body), "more_body": False}

        await self._app(scope, replay, send)


async def _break_connection(send: Send) -> None:
    """Promise a body, send part of it, then fail: uvicorn closes the connection half-way."""
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"100")]})
    await send({"type": "http.response.body", "body": b"{", "more_body": True})
    raise ConnectionAbortedError("fake server broke the connection on purpose")
