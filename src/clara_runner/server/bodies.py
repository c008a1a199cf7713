"""Request bodies read with a size limit enforced while reading, chunked uploads included."""

from __future__ import annotations

from fastapi import Request
from starlette.requests import ClientDisconnect

from clara_runner.errors import ClientClosedRequest, PayloadTooLarge

_CLOSED_WHILE_SENDING = "The client closed the connection before it finished sending the request body"


def _too_large(limit: int, received: int | None) -> PayloadTooLarge:
    details = {"maxSize": limit} | ({"receivedSize": received} if received is not None else {})
    return PayloadTooLarge(
        f"Maximum allowed size is {limit} bytes ({limit / 1024 / 1024:.2f}MB); send a smaller body",
        details=details,
    )


async def read_limited(request: Request, limit: int) -> bytes:
    """The whole body, or `PayloadTooLarge` as soon as it is known to exceed `limit` bytes."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit, int(declared))
    chunks: list[bytes] = []
    size = 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise _too_large(limit, None)
            chunks.append(chunk)
    except ClientDisconnect as exc:
        raise ClientClosedRequest(
            "The client closed the connection before it finished sending the request body"
        ) from exc
    return b"".join(chunks)
