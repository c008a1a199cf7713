"""A revoked key stops working at once on the process that revoked it, and on another process sharing the
database once its cached copy is older than KEY_CACHE_SECONDS, as docs/API.md says."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx2

from tests.e2e.test_shared_traffic_state import servers
from tests.support import bearer, deploy_to, server_env

CACHE_SECONDS = 1.0


async def test_a_revoke_reaches_every_process_within_the_key_cache_time(database_url: str, tmp_path: Path) -> None:
    env = server_env(database_url, tmp_path / "data", KEY_CACHE_SECONDS=str(CACHE_SECONDS))
    with servers(env) as (first, second):
        async with httpx2.AsyncClient(timeout=30) as http:
            await deploy_to(http, first.base_url)
            created = await http.post(f"{first.base_url}/api/workflows/hello-world/keys", json={"name": "app"})
            key = created.json()["key"]

            async def run(base_url: str) -> httpx2.Response:
                return await http.post(
                    f"{base_url}/api/workflows/hello-world/execute", json={"name": "Ada"}, headers=bearer(key["apiKey"])
                )

            assert [(await run(server.base_url)).status_code for server in (first, second)] == [200, 200]
            revoked = await http.delete(f"{first.base_url}/api/workflows/hello-world/keys/{key['id']}")
            assert revoked.status_code == 200
            assert (await run(first.base_url)).json()["code"] == "api_key_revoked"
            await asyncio.sleep(CACHE_SECONDS + 0.2)
            refused = await run(second.base_url)
    assert (refused.status_code, refused.json()["code"]) == (401, "api_key_revoked")
