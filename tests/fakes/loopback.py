"""Run an ASGI app on a free 127.0.0.1 port in a background thread, and record what it was sent.

The fakes are real HTTP servers (uvicorn), so the code under test goes through its real HTTP
client, connection handling, multipart encoding and error paths.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Self

import uvicorn
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.routing import Route
from starlette.types import ASGIApp


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
        server.should_exit = True
        thread.join(10)
        sock.close()


@dataclass
class UploadedFile:
    filename: str
    content_type: str
    data: bytes


@dataclass
class RecordedRequest:
    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any = None
    form: dict[str, str] = field(default_factory=dict)
    files: dict[str, list[UploadedFile]] = field(default_factory=dict)


async def record(request: Request) -> RecordedRequest:
    """What `request` carried: its JSON body, or its form fields and files."""
    recorded = RecordedRequest(request.method, request.url.path, dict(request.query_params), dict(request.headers))
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("multipart/form-data"):
        async with request.form() as form:
            for name, value in form.multi_items():
                if isinstance(value, UploadFile):
                    upload = UploadedFile(value.filename or "", value.content_type or "", await value.read())
                    recorded.files.setdefault(name, []).append(upload)
                else:
                    recorded.form[name] = value
    elif content_type.startswith("application/json"):
        recorded.json = await request.json()
    return recorded


class LoopbackFake:
    """A fake service: its routes, the requests it received, and its base URL while it runs."""

    def __init__(self, routes: list[Route]) -> None:
        self.requests: list[RecordedRequest] = []
        self.url = ""
        self.app = Starlette(routes=routes)

    @classmethod
    @contextmanager
    def running(cls, **options: Any) -> Iterator[Self]:
        fake = cls(**options)
        with serve(fake.app) as url:
            fake.url = url
            yield fake

    async def receive(self, request: Request) -> RecordedRequest:
        recorded = await record(request)
        self.requests.append(recorded)
        return recorded

    def last(self, path: str) -> RecordedRequest:
        """The latest request to `path`."""
        return [request for request in self.requests if request.path == path][-1]
