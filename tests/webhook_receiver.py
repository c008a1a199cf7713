"""A webhook receiver on 127.0.0.1, as a customer would run one: it verifies every request's signature with
the `standardwebhooks` package and keeps what it received.

`answers` scripts the receiver: one entry per request, in order (`200`, `500`, or `"hang"`: read the
request and never answer, so the sender's timeout fires); after the script, every request gets 200.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any

from standardwebhooks import Webhook, WebhookVerificationError

Answer = int | str


@dataclass(frozen=True)
class Received:
    headers: dict[str, str]
    body: bytes
    at: float
    """`time.monotonic()` when the request arrived."""
    verified: bool
    """The signature verified under the receiver's secret."""

    @property
    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    answers: list[Answer] = field(default_factory=list)
    secret: str | None = None
    """Set it once the secret is known (from the create answer); requests before that are not verified."""
    received: list[Received] = field(default_factory=list)
    port: int = 0
    _arrived: asyncio.Condition = field(default_factory=asyncio.Condition)
    _hanging: list[asyncio.StreamWriter] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    async def wait_for(self, count: int, seconds: float = 20) -> list[Received]:
        """The first `count` requests, once they have arrived (fails the test after `seconds`)."""
        async with asyncio.timeout(seconds), self._arrived:
            await self._arrived.wait_for(lambda: len(self.received) >= count)
        return self.received[:count]

    def _verify(self, headers: dict[str, str], body: bytes) -> bool:
        if self.secret is None:
            return False
        try:
            Webhook(self.secret).verify(body, headers)
        except WebhookVerificationError:
            return False
        return True

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = (await reader.readuntil(b"\r\n\r\n")).decode()
            lines = head.split("\r\n")[1:]
            headers = {
                name.strip().lower(): value.strip()
                for name, _, value in (line.partition(":") for line in lines)
                if name
            }
            body = await reader.readexactly(int(headers.get("content-length", "0")))
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()
            return
        answer = self.answers[len(self.received)] if len(self.received) < len(self.answers) else 200
        async with self._arrived:
            self.received.append(Received(headers, body, time.monotonic(), self._verify(headers, body)))
            self._arrived.notify_all()
        if answer == "hang":
            self._hanging.append(writer)
            return
        reason = "OK" if answer == 200 else "Error"
        writer.write(f"HTTP/1.1 {answer} {reason}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n".encode())
        with contextlib.suppress(ConnectionError):
            await writer.drain()
        writer.close()


@asynccontextmanager
async def webhook_receiver(answers: list[Answer] | None = None) -> AsyncIterator[WebhookReceiver]:
    receiver = WebhookReceiver(answers=list(answers or []))
    server = await asyncio.start_server(receiver._serve, "127.0.0.1", 0)
    receiver.port = server.sockets[0].getsockname()[1]
    try:
        yield receiver
    finally:
        for writer in receiver._hanging:
            writer.close()
        server.close()
        await server.wait_closed()
