from __future__ import annotations

import pytest
from starlette.requests import Request
from starlette.types import Message

from clara_runner.errors import ClientClosedRequest
from clara_runner.server.bodies import read_limited


async def test_a_client_that_hangs_up_mid_body_is_a_client_error_not_a_server_fault() -> None:
    messages: list[Message] = [
        {"type": "http.request", "body": b'{"name": ', "more_body": True},
        {"type": "http.disconnect"},
    ]

    async def receive() -> Message:
        return messages.pop(0)

    request = Request({"type": "http", "method": "POST", "headers": []}, receive)
    with pytest.raises(ClientClosedRequest) as raised:
        await read_limited(request, 1000)
    assert raised.value.status == 499
    assert raised.value.code == "client_closed_request"
