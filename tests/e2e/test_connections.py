"""Connections a client opens and never uses cannot wear the server down: a request head must arrive in
time, and a process keeps a bounded number of connections open (real server, real sockets)."""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path

import httpx2
import pytest

from tests.support import LiveServer, server_env

HEADER_TIMEOUT = 1.0
MAX_CONNECTIONS = 20


@pytest.fixture
def guarded(database_url: str, tmp_path: Path) -> Iterator[LiveServer]:
    env = server_env(
        database_url,
        tmp_path / "data",
        REQUEST_HEADER_TIMEOUT_SECONDS=str(HEADER_TIMEOUT),
        MAX_CONNECTIONS=str(MAX_CONNECTIONS),
    )
    with LiveServer(env) as server:
        yield server


def _connect(server: LiveServer) -> socket.socket:
    sock = socket.create_connection(("127.0.0.1", server.port), timeout=10)
    return sock


def _read_until_closed(sock: socket.socket) -> bytes:
    received = b""
    while True:
        try:
            chunk = sock.recv(4096)
        except ConnectionResetError:
            return received
        if not chunk:
            return received
        received += chunk


def test_a_request_head_that_never_completes_is_answered_408_and_closed(guarded: LiveServer) -> None:
    with _connect(guarded) as stalled, _connect(guarded) as silent:
        stalled.sendall(b"POST /api/workflows/x/execute HTTP/1.1\r\nHost: 127.0.0.1\r\n")
        started = time.monotonic()
        for connection in (stalled, silent):
            head, _, body = _read_until_closed(connection).partition(b"\r\n\r\n")
            assert head.startswith(b"HTTP/1.1 408")
            error = json.loads(body)
            assert (error["code"], error["success"]) == ("request_timeout", False)
            assert "REQUEST_HEADER_TIMEOUT_SECONDS" in error["message"]
        assert time.monotonic() - started < HEADER_TIMEOUT + 8, "closed by the header timeout, not by the test"
    assert httpx2.get(f"{guarded.base_url}/health").status_code == 200


def test_connections_past_the_bound_are_closed_at_once_and_logged(guarded: LiveServer) -> None:
    held = [_connect(guarded) for _ in range(MAX_CONNECTIONS)]
    try:
        time.sleep(0.3)
        with _connect(guarded) as extra:
            assert _read_until_closed(extra) == b"", "refused without an answer, at once"
        for sock in held:
            sock.close()
        for _ in range(50):
            if "connections_refused" in guarded.output():
                break
            time.sleep(0.1)
        assert "connections_refused" in guarded.output()
        assert httpx2.get(f"{guarded.base_url}/health").status_code == 200
    finally:
        for sock in held:
            sock.close()
