"""`MAX_INPUT_SIZE` and JSON nesting over real HTTP (`clara-runner serve` in a child process):
chunked bodies, lying Content-Length headers, and a 100,000-deep body. The server answers 4xx, never
5xx, and stays healthy."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator

import httpx2
import pytest

from tests.support import HELLO_WORLD, LiveServer, bearer, server_env

LIMIT = 64 * 1024


@pytest.fixture(scope="module")
def small_server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """One server with a small body limit for the module: each test checks it still answers afterwards."""
    data_dir = tmp_path_factory.mktemp("small") / "data"
    with LiveServer(server_env(module_database_url, data_dir, MAX_INPUT_SIZE=str(LIMIT))) as server:
        yield server


@pytest.fixture(scope="module")
def small_key(small_server: LiveServer) -> str:
    """The key of Hello World on the small server, deployed once."""
    return _deploy(small_server)


def _deploy(server: LiveServer) -> str:
    response = httpx2.post(f"{server.base_url}/api/deploy", json={"name": "Hello World", "workflow": HELLO_WORLD})
    assert response.status_code == 201, response.text
    key: str = response.json()["deployment"]["apiKey"]
    return key


async def _exchange(server: LiveServer, head: str, body_parts: list[bytes]) -> tuple[int, str]:
    """Send a raw request (stopping quietly if the server closes early) and read the status and body.

    A server that answers and closes while the body is still arriving resets the connection, and the
    reset may discard its answer before it is read (TCP, not the server): such an exchange is tried
    again, up to three times in all."""
    for _ in range(2):
        try:
            return await _exchange_once(server, head, body_parts)
        except ConnectionError:
            continue
    return await _exchange_once(server, head, body_parts)


async def _exchange_once(server: LiveServer, head: str, body_parts: list[bytes]) -> tuple[int, str]:
    reader, writer = await asyncio.open_connection("127.0.0.1", server.port)
    try:
        writer.write(head.encode())
        for part in body_parts:
            # Either may find the connection reset: the server answers and closes while the body is sent.
            try:
                writer.write(part)
                await writer.drain()
            except ConnectionError:
                break
        status_line = await reader.readline()
        headers = await reader.readuntil(b"\r\n\r\n")
        length = next(
            int(line.split(b":", 1)[1]) for line in headers.split(b"\r\n") if line.lower().startswith(b"content-length")
        )
        return int(status_line.split()[1]), (await reader.readexactly(length)).decode()
    finally:
        writer.close()


def _head(path: str, key: str, extra: str) -> str:
    return (
        f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {key}\r\n"
        f"Content-Type: application/json\r\n{extra}\r\n"
    )


def _chunked(payload: bytes, size: int = 8192) -> list[bytes]:
    parts = [f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n" for chunk in _pieces(payload, size)]
    return [*parts, b"0\r\n\r\n"]


def _pieces(payload: bytes, size: int) -> list[bytes]:
    return [payload[start : start + size] for start in range(0, len(payload), size)]


def _assert_healthy(server: LiveServer) -> None:
    assert httpx2.get(f"{server.base_url}/health").status_code == 200


async def test_a_chunked_body_over_the_limit_is_refused_with_413(small_server: LiveServer, small_key: str) -> None:
    payload = json.dumps({"name": "x" * (LIMIT * 4)}).encode()
    head = _head("/api/workflows/hello-world/execute", small_key, "Transfer-Encoding: chunked\r\n")
    status, text = await _exchange(small_server, head, _chunked(payload))
    body = json.loads(text)
    assert status == 413
    assert body["code"] == "payload_too_large"
    assert body["maxSize"] == LIMIT
    assert f"Maximum allowed size is {LIMIT} bytes" in str(body["message"])
    _assert_healthy(small_server)


async def test_a_chunked_body_under_the_limit_runs(small_server: LiveServer, small_key: str) -> None:
    payload = json.dumps({"name": "y" * (LIMIT // 2)}).encode()
    head = _head("/api/workflows/hello-world/execute", small_key, "Transfer-Encoding: chunked\r\n")
    status, text = await _exchange(small_server, head, _chunked(payload, 1000))
    assert status == 200
    assert json.loads(text)["outputs"] == {"greeting": "y" * (LIMIT // 2)}


async def test_a_chunked_deploy_over_the_limit_is_refused_with_413(small_server: LiveServer) -> None:
    payload = json.dumps({"name": "Big", "workflow": HELLO_WORLD, "description": "d" * LIMIT}).encode()
    head = "POST /api/deploy HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    status, text = await _exchange(small_server, head, _chunked(payload))
    assert status == 413
    assert json.loads(text)["code"] == "payload_too_large"


async def test_a_declared_length_over_the_limit_is_refused_before_the_body_is_sent(
    small_server: LiveServer, small_key: str
) -> None:
    head = _head("/api/workflows/hello-world/execute", small_key, f"Content-Length: {LIMIT * 100}\r\n")
    status, text = await _exchange(small_server, head, [])
    assert status == 413
    assert json.loads(text)["receivedSize"] == LIMIT * 100
    _assert_healthy(small_server)


async def test_a_short_lying_content_length_frames_the_body_and_the_excess_is_not_read_as_body(
    small_server: LiveServer, small_key: str
) -> None:
    """Declares 12 bytes, sends 1 MB: only the 12 declared bytes are the body (an incomplete JSON
    document: the app answers 400 malformed_json), and the rest is not a valid next request (uvicorn
    answers 400 and drops the connection). Which 400 arrives first depends on how the bytes are read."""
    payload = json.dumps({"name": "z" * (1024 * 1024)}).encode()
    head = _head("/api/workflows/hello-world/execute", small_key, "Content-Length: 12\r\n")
    status, text = await _exchange(small_server, head, _pieces(payload, 65536))
    assert status == 400
    assert text == "Invalid HTTP request received." or json.loads(text)["code"] == "malformed_json"
    _assert_healthy(small_server)


async def test_a_long_lying_content_length_then_a_hang_up_leaves_the_server_healthy(
    small_server: LiveServer, small_key: str
) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", small_server.port)
    writer.write(_head("/api/workflows/hello-world/execute", small_key, f"Content-Length: {LIMIT}\r\n").encode())
    writer.write(b'{"name": "partial')
    await writer.drain()
    writer.close()
    await writer.wait_closed()
    del reader
    _assert_healthy(small_server)
    response = httpx2.post(
        f"{small_server.base_url}/api/workflows/hello-world/execute", json={"name": "next"}, headers=bearer(small_key)
    )
    assert response.json()["outputs"] == {"greeting": "next"}


@pytest.mark.parametrize(("opening", "closing"), [("[", "]"), ('{"a":', "}")])
def test_a_100000_deep_body_gets_400_and_the_server_stays_healthy(
    live_server: LiveServer, opening: str, closing: str
) -> None:
    key = _deploy(live_server)
    deep = opening * 100_000 + closing * 100_000
    for path in ("/api/workflows/hello-world/execute", "/api/deploy"):
        response = httpx2.post(
            f"{live_server.base_url}{path}",
            content=deep,
            headers={**bearer(key), "Content-Type": "application/json"},
            timeout=30,
        )
        assert response.status_code == 400
        assert response.json()["code"] == "malformed_json"
        assert "nested too deeply" in response.json()["message"]
    _assert_healthy(live_server)


def test_nesting_that_json_can_parse_is_still_bounded(live_server: LiveServer) -> None:
    key = _deploy(live_server)
    value: object = "leaf"
    for _ in range(200):
        value = {"a": value}
    response = httpx2.post(
        f"{live_server.base_url}/api/workflows/hello-world/execute", json={"name": value}, headers=bearer(key)
    )
    assert response.status_code == 400
    assert response.json()["code"] == "input_validation_failed"
    assert "nested more than 64 levels deep" in response.json()["message"]
