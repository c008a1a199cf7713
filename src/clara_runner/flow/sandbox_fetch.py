"""`fetch` for sandboxed scripts, done by an `httpx2` client (the workflow client, where egress rules apply)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import httpx2

from clara_runner.flow.sandbox_requests import Fetch


class ResponseTooLarge(Exception):
    pass


def client_fetch(client: httpx2.AsyncClient, max_bytes: int) -> Fetch:
    """A `Fetch` that sends the script's request with `client` and reads at most `max_bytes` of body."""

    async def fetch(url: str, options: Mapping[str, Any]) -> Mapping[str, Any]:
        method = str(options.get("method") or "GET").upper()
        raw_headers = options.get("headers")
        headers = {str(k): str(v) for k, v in raw_headers.items()} if isinstance(raw_headers, Mapping) else {}
        body = options.get("body")
        content = body.encode() if isinstance(body, str) else None
        async with client.stream(method, url, headers=headers, content=content) as response:
            chunks: list[bytes] = []
            size = 0
            async for chunk in response.aiter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise ResponseTooLarge(f"the response body is larger than {max_bytes} bytes")
                chunks.append(chunk)
        merged: dict[str, str] = {}
        for name, value in response.headers.multi_items():
            key = name.lower()
            merged[key] = f"{merged[key]}, {value}" if key in merged else value
        return {
            "status": response.status_code,
            "statusText": response.reason_phrase,
            "url": str(response.url),
            "headers": merged,
            "body": b"".join(chunks).decode(response.encoding or "utf-8", errors="replace"),
        }

    return fetch
