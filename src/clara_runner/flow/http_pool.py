"""A transport that spreads requests over several connection pools.

httpcore's pool walks every pooled connection, probing each idle socket, whenever a request starts
or ends. One pool of N kept-alive connections therefore costs O(N) per request and O(N^2) for a
fan-out of N concurrent calls: with 100 `llm` nodes that walk was the largest cost of the run.
Requests go round-robin to K independent pools instead, which divides that cost by K while every
connection is still kept alive between runs.
"""

from __future__ import annotations

import itertools
from collections.abc import Sequence

import httpx2


class ShardedTransport(httpx2.AsyncBaseTransport):
    def __init__(self, transports: Sequence[httpx2.AsyncBaseTransport]) -> None:
        self._transports = list(transports)
        self._next = itertools.cycle(self._transports)

    async def handle_async_request(self, request: httpx2.Request) -> httpx2.Response:
        return await next(self._next).handle_async_request(request)

    async def aclose(self) -> None:
        for transport in self._transports:
            await transport.aclose()
