from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx2
import pytest
from sqlalchemy import create_engine, text

from clara_runner.store.database import sync_database_url
from tests.support import HELLO_WORLD, LiveServer, bearer, free_port, server_env


def test_migrate_brings_an_empty_database_to_the_latest_schema(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fresh.db'}"
    env = {**os.environ, "DATABASE_URL": url, "CLARA_DATA_DIR": str(tmp_path)}
    completed = subprocess.run(
        [sys.executable, "-m", "clara_runner", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert "up to date" in completed.stderr
    assert (tmp_path / "fresh.db").stat().st_size > 0


def test_serve_honours_port_and_base_url_from_the_environment(database_url: str, tmp_path: Path) -> None:
    port = free_port()
    env = server_env(database_url, tmp_path / "data", PORT=str(port), BASE_URL="https://api.example.com/")
    process = subprocess.Popen(
        [sys.executable, "-m", "clara_runner", "serve"],
        env={**os.environ, **env},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        info = None
        deadline = time.monotonic() + 30
        while info is None and time.monotonic() < deadline and process.poll() is None:
            try:
                info = httpx2.get(f"http://127.0.0.1:{port}/api/info", timeout=1)
            except httpx2.HTTPError:
                time.sleep(0.1)
        assert info is not None
        assert info.json()["documentation"] == "https://api.example.com/api/docs"
    finally:
        process.terminate()
        process.wait(timeout=30)


def test_sigterm_shuts_down_cleanly_and_gives_up_the_process_lease(database_url: str, tmp_path: Path) -> None:
    with LiveServer(server_env(database_url, tmp_path / "data", KEY_CACHE_SECONDS="0")) as server:
        deployed = httpx2.post(f"{server.base_url}/api/deploy", json={"name": "Hello World", "workflow": HELLO_WORLD})
        key = deployed.json()["deployment"]["apiKey"]
        executed = httpx2.post(
            f"{server.base_url}/api/workflows/hello-world/execute", json={"name": "A"}, headers=bearer(key)
        )
        assert executed.status_code == 200
        server.process.send_signal(signal.SIGTERM)
        # uvicorn runs the lifespan shutdown, then re-raises the signal so supervisors see it.
        assert server.process.wait(timeout=30) == -signal.SIGTERM
    engine = create_engine(sync_database_url(database_url))
    with engine.connect() as conn:
        assert conn.execute(text("SELECT execution_count FROM deployments")).scalar_one() == 1
        assert conn.execute(text("SELECT count(*) FROM process_leases")).scalar_one() == 0
    engine.dispose()


def test_a_bad_command_line_is_a_usage_error() -> None:
    completed = subprocess.run(
        [sys.executable, "-m", "clara_runner", "fly"], capture_output=True, text=True, timeout=30
    )
    assert completed.returncode == 2
    assert "invalid choice" in completed.stderr


def test_a_bad_setting_is_named_without_a_traceback(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text("WEB_CONCURRENCY=abc\n")
    completed = subprocess.run(
        [sys.executable, "-m", "clara_runner", "migrate"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 2
    assert completed.stderr.splitlines() == [
        "clara-runner: error: invalid setting (environment or .env):",
        "  WEB_CONCURRENCY='abc': Input should be a valid integer, unable to parse string as an integer",
    ]


def test_an_old_setting_name_is_a_one_line_warning(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "DB_POOL_MIN": "4"}
    completed = subprocess.run(
        [sys.executable, "-m", "clara_runner", "migrate"], env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 0, completed.stderr
    assert completed.stderr.splitlines()[0] == (
        "clara-runner: warning: DB_POOL_MIN is deprecated: rename it to DB_POOL_SIZE (same meaning)"
    )


_A_WORKER = {"DATABASE_URL": "postgresql://clara@127.0.0.1:9/never-reached", "EXECUTION_BACKEND": "queue"}
"""A worker's settings: the port is checked before the database is reached."""


@pytest.mark.parametrize(
    ("command", "setting", "settings", "hint"),
    [("serve", "PORT", {}, "--port or PORT"), ("worker", "METRICS_PORT", _A_WORKER, "METRICS_PORT")],
)
def test_a_busy_port_is_an_error_naming_its_setting_and_nothing_claims_to_listen(
    tmp_path: Path, command: str, setting: str, settings: dict[str, str], hint: str
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        env = {
            **os.environ,
            "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}",
            "CLARA_DATA_DIR": str(tmp_path),
            setting: str(port),
            **settings,
        }
        completed = subprocess.run(
            [sys.executable, "-m", "clara_runner", command], env=env, capture_output=True, text=True, timeout=60
        )
    assert completed.returncode == 1
    assert completed.stderr.strip() == (
        f"clara-runner: error: cannot listen on 127.0.0.1:{port}: it is in use by another process;"
        f" stop that process or choose another port ({hint})"
    )


def test_the_queue_backend_without_postgresql_is_a_clear_startup_error(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "EXECUTION_BACKEND": "queue"}
    for command in ("serve", "worker"):
        completed = subprocess.run(
            [sys.executable, "-m", "clara_runner", command], env=env, capture_output=True, text=True, timeout=60
        )
        assert completed.returncode == 2
        assert completed.stderr.splitlines() == [
            "clara-runner: error: invalid setting (environment or .env):",
            "  EXECUTION_BACKEND='queue': Value error, the queue backend needs PostgreSQL: set"
            " DATABASE_URL=postgresql://user:pass@host:5432/db, or use EXECUTION_BACKEND=inprocess",
        ]


def test_a_worker_without_the_queue_backend_says_what_to_set(tmp_path: Path) -> None:
    env = {**os.environ, "DATABASE_URL": f"sqlite:///{tmp_path / 'fresh.db'}", "EXECUTION_BACKEND": "inprocess"}
    completed = subprocess.run(
        [sys.executable, "-m", "clara_runner", "worker"], env=env, capture_output=True, text=True, timeout=60
    )
    assert completed.returncode == 1
    assert "set EXECUTION_BACKEND=queue" in completed.stderr
