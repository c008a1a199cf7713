"""Helpers shared by tests: settings, clients, deploying, and the real server in a child process."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx2
from fastapi import FastAPI

from clara_runner.settings import Settings
from tests.postgres_databases import for_worker, sibling

FIXTURES = Path(__file__).parent / "fixtures"
WORKFLOWS = FIXTURES / "workflows"
POSTGRES_URL = for_worker(os.environ["CLARA_TEST_DATABASE_URL"]) if os.environ.get("CLARA_TEST_DATABASE_URL") else ""
"""The PostgreSQL database of this test process (each pytest-xdist worker has its own); empty: SQLite."""
SHARED_SERVER_POSTGRES_URL = sibling(POSTGRES_URL, "servers") if POSTGRES_URL else ""
"""The PostgreSQL database of servers shared by the tests of a module (every test empties POSTGRES_URL)."""
REDIS_URL = os.environ.get("CLARA_TEST_REDIS_URL", "redis://127.0.0.1:6379/3")
"""Redis for the shared rate-limit tests (its own database number; keys are unique per test)."""
LOCAL_CLIENT = ("127.0.0.1", 50000)
REMOTE_CLIENT = ("203.0.113.7", 40000)

HELLO_WORLD: dict[str, Any] = {
    "nodes": [
        {"id": "input-1", "type": "input", "data": {"label": "Name"}},
        {"id": "output-1", "type": "output", "data": {"outputLabel": "Greeting"}},
    ],
    "connections": [{"source": "input-1", "target": "output-1", "sourceHandle": "output", "targetHandle": "input"}],
}

BUILTIN_TYPES_FLOW: dict[str, Any] = {
    "nodes": [
        {"id": "name", "type": "input", "data": {"label": "Name"}},
        {"id": "count", "type": "input", "data": {"label": "Count", "inputType": "number"}},
        {"id": "config", "type": "input", "data": {"label": "Config", "inputType": "json"}},
        {"id": "text", "type": "output", "data": {"outputLabel": "Echo"}},
        {"id": "number", "type": "output", "data": {"outputLabel": "Number"}},
        {"id": "json", "type": "output", "data": {"outputLabel": "Settings", "format": "json"}},
    ],
    "connections": [
        {"source": "name", "target": "text"},
        {"source": "count", "target": "number"},
        {"source": "config", "target": "json"},
    ],
}
"""Every built-in input type (text, number, JSON), each returned by an output."""


def on_postgres() -> bool:
    return bool(POSTGRES_URL)


def shared_workflow(name: str) -> Any:
    """One of the real Agent Studio exports (copied from ../shared/workflows)."""
    return json.loads((WORKFLOWS / name).read_text())


def make_settings(database_url: str, data_dir: Path, **overrides: Any) -> Settings:
    """Settings of an in-process app. It starts no sandbox worker ahead: most tests run no JavaScript, and
    each spare is a process start (about 0.15 s of CPU); a script still gets a worker when it runs. The
    real server (`LiveServer`) keeps the production default."""
    values: dict[str, Any] = {
        "DATABASE_URL": database_url,
        "CLARA_DATA_DIR": data_dir,
        "CLARA_SECRET_KEY": "test-secret-key",
        "LOG_LEVEL": "warning",
        "CUSTOM_NODE_SPARE_WORKERS": 0,
        **overrides,
    }
    return Settings(_env_file=None, **values)


def asgi_client(app: FastAPI, client: tuple[str, int] = LOCAL_CLIENT) -> httpx2.AsyncClient:
    transport = httpx2.ASGITransport(app=app, client=client)
    return httpx2.AsyncClient(transport=transport, base_url="http://localhost")


async def deploy(
    client: httpx2.AsyncClient, workflow: Any = None, name: str = "Hello World", base_url: str = "", **extra: Any
) -> dict[str, Any]:
    """Deploy and return the `deployment` object, failing the test on anything but 201."""
    body = {"name": name, "workflow": workflow or HELLO_WORLD, **extra}
    response = await client.post(f"{base_url}/api/deploy", json=body)
    assert response.status_code == 201, response.text
    deployment: dict[str, Any] = response.json()["deployment"]
    return deployment


def bearer(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def server_env(database_url: str, data_dir: Path, **extra: str) -> dict[str, str]:
    return {
        "DATABASE_URL": database_url,
        "CLARA_DATA_DIR": str(data_dir),
        "CLARA_SECRET_KEY": "test-secret-key",
        "LOG_LEVEL": "warning",
        "HOST": "127.0.0.1",
        **extra,
    }


async def deploy_to(
    http: httpx2.AsyncClient, base_url: str, workflow: Any = None, name: str = "Hello World", **options: Any
) -> dict[str, Any]:
    """Deploy on the server at `base_url` (a client shared by several servers) and return the `deployment`."""
    return await deploy(http, workflow, name, base_url=base_url, **options)


async def history_of(http: httpx2.AsyncClient, base_url: str, deployment: dict[str, Any]) -> list[dict[str, Any]]:
    """Every execution of `deployment` (up to 1000), newest first, read with its key."""
    response = await http.get(
        f"{base_url}/api/workflows/{deployment['slug']}/executions?limit=1000", headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200, response.text
    executions: list[dict[str, Any]] = response.json()["executions"]
    return executions


class LiveServer:
    """`clara-runner serve` in a child process, on a free port."""

    def __init__(self, env: dict[str, str], args: list[str] | None = None) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        data_dir = Path(env.get("CLARA_DATA_DIR", "."))
        data_dir.mkdir(parents=True, exist_ok=True)
        self.log = data_dir / f"server-{self.port}.log"
        command = [sys.executable, "-m", "clara_runner", "serve", "--port", str(self.port), *(args or [])]
        with self.log.open("w") as log:
            self.process = subprocess.Popen(command, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT)
        self._wait_until_ready()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited early:\n{self.log.read_text()}")
            try:
                if httpx2.get(f"{self.base_url}/health", timeout=1).status_code == 200:
                    return
            except httpx2.HTTPError:
                pass
            time.sleep(0.1)
        self.process.kill()
        raise RuntimeError(f"server did not become healthy:\n{self.log.read_text()}")

    def output(self) -> str:
        return self.log.read_text()

    def stop(self) -> int:
        if self.process.poll() is None:
            self.process.terminate()
        return self.process.wait(timeout=30)

    def __enter__(self) -> LiveServer:
        return self

    def __exit__(self, *_exc: object) -> None:
        self.stop()

    def client(self, timeout: float = 30) -> httpx2.AsyncClient:
        """An HTTP client for this server; use it as an async context manager."""
        return httpx2.AsyncClient(base_url=self.base_url, timeout=timeout)


def ask_flow(base_url: str | None = None) -> dict[str, Any]:
    """Input -> one `llm` call -> output; `base_url` points the node at its own model server."""
    data: dict[str, Any] = {"prompt": "{{question}}"}
    if base_url is not None:
        data["apiBaseUrl"] = base_url
    return {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Question"}},
            {"id": "llm", "type": "llm", "data": data},
            {"id": "out", "type": "output", "data": {"outputLabel": "Answer"}},
        ],
        "connections": [
            {"source": "in", "target": "llm", "targetHandle": "question"},
            {"source": "llm", "target": "out", "sourceHandle": "output"},
        ],
    }
