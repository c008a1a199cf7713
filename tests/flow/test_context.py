from __future__ import annotations

from collections.abc import Iterator

import pytest
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from clara_runner.flow.context import ServiceEndpoints, default_http_clients
from tests.fakes.server import LoopbackServer


async def _set_cookie(request: Request) -> Response:
    response = JSONResponse({"cookie": request.headers.get("cookie")})
    response.set_cookie("session", "belongs-to-workflow-a", path="/")
    return response


@pytest.fixture
def cookie_server() -> Iterator[LoopbackServer]:
    with LoopbackServer([Route("/login", _set_cookie)]) as server:
        yield server


@pytest.mark.parametrize("client", ["services", "workflow"])
async def test_shared_clients_never_carry_a_cookie_from_one_request_to_the_next(
    cookie_server: LoopbackServer, client: str
) -> None:
    clients = default_http_clients()
    http = getattr(clients, client)
    try:
        first = await http.get(f"{cookie_server.url}/login")
        assert "belongs-to-workflow-a" in first.headers["set-cookie"]
        second = await http.get(f"{cookie_server.url}/login")
        assert second.json() == {"cookie": None}
        assert [request.headers.get("cookie") for request in cookie_server.requests] == [None, None]
    finally:
        await clients.aclose()


def test_service_urls_are_owned_only_under_their_trusted_base() -> None:
    endpoints = ServiceEndpoints(
        openai_base_url="https://api.openai.com/v1", trusted=frozenset({"https://api.openai.com/v1"})
    )
    assert endpoints.owns("https://api.openai.com/v1/chat/completions")
    assert not endpoints.owns("https://api.openai.com/v10/chat")
    assert not endpoints.owns("http://localhost:8188/prompt")
    untrusted = ServiceEndpoints(openai_base_url="https://api.openai.com/v1")
    assert not untrusted.owns("https://api.openai.com/v1/chat/completions")
