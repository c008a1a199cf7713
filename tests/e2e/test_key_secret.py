"""Replicas sharing a database agree on the key secret with nothing configured, and a server restarted
without its data folder (a container without a volume) still accepts every key it issued."""

from __future__ import annotations

from pathlib import Path

import httpx2

from tests.support import HELLO_WORLD, LiveServer, bearer, server_env


def _env(database_url: str, data_dir: Path) -> dict[str, str]:
    env = server_env(database_url, data_dir, LOG_LEVEL="info")
    del env["CLARA_SECRET_KEY"]
    return env


async def test_replicas_and_restarts_accept_the_same_keys_without_a_configured_secret(
    database_url: str, tmp_path: Path
) -> None:
    with (
        LiveServer(_env(database_url, tmp_path / "first")) as first,
        LiveServer(_env(database_url, tmp_path / "second")) as second,
    ):
        async with httpx2.AsyncClient(timeout=30) as http:
            deployed = await http.post(
                f"{first.base_url}/api/deploy",
                json={"name": "Hello", "workflow": HELLO_WORLD},
            )
            key = deployed.json()["deployment"]["apiKey"]
            for server in (first, second):
                answer = await http.post(
                    f"{server.base_url}/api/workflows/hello/execute", json={"name": "x"}, headers=bearer(key)
                )
                assert answer.status_code == 200, answer.text
        assert "generated now and kept in the database" in first.output() + second.output()
    with LiveServer(_env(database_url, tmp_path / "fresh-container")) as restarted:
        async with httpx2.AsyncClient(timeout=30) as http:
            answer = await http.post(
                f"{restarted.base_url}/api/workflows/hello/execute", json={"name": "x"}, headers=bearer(key)
            )
        assert answer.status_code == 200
        assert '"source":"the database"' in restarted.output()
