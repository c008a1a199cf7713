from __future__ import annotations

import httpx2

from tests.support import bearer, deploy


async def test_hello_world_deploys_and_executes(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    response = await client.post(
        "/api/workflows/hello-world/execute", json={"name": "Alice"}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200
    assert response.json()["outputs"] == {"greeting": "Alice"}
