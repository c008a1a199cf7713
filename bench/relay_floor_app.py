"""The physical floor of a streamed run: a bare Starlette app that relays a model's streamed tokens as
Server-Sent Events (sse-starlette), with none of the project's code inside.

Per request it reads `{"question": ...}`, sends `run.started`, posts the `llm` node's body
(`bench/streaming.py` `chat_body`) to `UPSTREAM_URL` + `/chat/completions` with one shared aiohttp
session (no connection limit), relays each piece of text as an `llm.token` event, and ends with a
`run.finished` carrying the answer: the same events, in the same framing, as the runner's stream of
`ask_flow()` minus its node events. No database, no engine, no key check.

    UPSTREAM_URL=http://127.0.0.1:8091/v1 uvicorn bench.relay_floor_app:create_relay_app --factory
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import aiohttp
from sse_starlette import EventSourceResponse, ServerSentEvent
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.routing import Route

from bench.streaming import FAKE_KEY, chat_body, sse_events


def create_relay_app() -> Starlette:
    upstream = os.environ["UPSTREAM_URL"] + "/chat/completions"
    headers = {"Authorization": f"Bearer {FAKE_KEY}"}
    session: aiohttp.ClientSession | None = None

    async def relay(request: Request) -> EventSourceResponse:
        question = json.loads(await request.body())["question"]

        async def events() -> AsyncIterator[ServerSentEvent]:
            assert session is not None
            yield ServerSentEvent(data='{"status": "running"}', event="run.started", id="1")
            seq, pieces = 1, []
            async with session.post(upstream, json=chat_body(question), headers=headers) as response:
                async for event in sse_events(response):
                    if event.data == "[DONE]":
                        break
                    for choice in json.loads(event.data)["choices"]:
                        text = choice["delta"].get("content")
                        if text:
                            seq += 1
                            pieces.append(text)
                            delta = json.dumps({"nodeId": "llm", "delta": text})
                            yield ServerSentEvent(data=delta, event="llm.token", id=str(seq))
            body = json.dumps({"success": True, "outputs": {"answer": "".join(pieces)}})
            yield ServerSentEvent(data=body, event="run.finished", id=str(seq + 1))

        return EventSourceResponse(events(), ping=15)

    @asynccontextmanager
    async def lifespan(_: Starlette) -> AsyncIterator[None]:
        nonlocal session
        async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=0)) as session:
            yield

    return Starlette(routes=[Route("/relay", relay, methods=["POST"])], lifespan=lifespan)
