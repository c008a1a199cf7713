from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest

from clara_runner.server.app import create_app
from tests.support import LOCAL_CLIENT, REMOTE_CLIENT, asgi_client, bearer, deploy, make_settings

ADMIN = "admin-key-for-tests-0123456789"


@pytest.fixture
async def with_admin_key(database_url: str, tmp_path: Path) -> AsyncIterator[dict[str, httpx2.AsyncClient]]:
    app = create_app(make_settings(database_url, tmp_path, CLARA_ADMIN_KEY=ADMIN))
    async with (
        app.router.lifespan_context(app),
        asgi_client(app, LOCAL_CLIENT) as local,
        asgi_client(app, REMOTE_CLIENT) as remote,
    ):
        yield {"local": local, "remote": remote}


async def test_list_shows_live_deployments_with_counts(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    await client.post("/api/workflows/hello-world/execute", json={"name": "a"}, headers=bearer(deployment["apiKey"]))
    other = await deploy(client, name="Other", userId="u-1")
    body = (await client.get("/api/deployments")).json()
    assert body["success"] is True
    assert [d["slug"] for d in body["deployments"]] == ["other", "hello-world"]
    hello = body["deployments"][1]
    assert hello["executionCount"] == 1
    assert hello["lastExecuted"] is not None
    assert hello["isActive"] is True
    assert hello["docs"].endswith("/api/workflows/hello-world/docs")
    assert body["pagination"] == {"limit": 100, "offset": 0, "hasMore": False}
    mine = (await client.get("/api/deployments", params={"userId": "u-1"})).json()["deployments"]
    assert [d["id"] for d in mine] == [other["id"]]


async def test_remote_management_without_an_admin_key_is_refused_with_instructions(
    client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient
) -> None:
    deployment = await deploy(client)
    for response, code in (
        (await remote_client.post("/api/deploy", json={"name": "x", "workflow": {}}), "admin_key_required"),
        (await remote_client.get("/api/deployments"), "admin_key_required"),
        (await remote_client.delete(f"/api/workflows/{deployment['id']}"), "missing_authorization"),
    ):
        assert response.status_code == 401
        body = response.json()
        assert body["code"] == code
        assert "CLARA_ADMIN_KEY" in body["message"]


async def test_with_an_admin_key_it_is_required_from_everywhere(with_admin_key: dict[str, httpx2.AsyncClient]) -> None:
    local, remote = with_admin_key["local"], with_admin_key["remote"]
    assert (await local.get("/api/deployments")).status_code == 401
    assert (await remote.get("/api/deployments", headers=bearer("wrong"))).status_code == 401
    deployed = await remote.post(
        "/api/deploy",
        json={"name": "Remote", "workflow": {"nodes": [{"id": "o", "type": "output"}], "edges": []}},
        headers=bearer(ADMIN),
    )
    assert deployed.status_code == 201
    listed = await remote.get("/api/deployments", headers=bearer(ADMIN))
    assert [d["slug"] for d in listed.json()["deployments"]] == ["remote"]


async def test_delete_with_the_deployments_own_key(
    remote_client: httpx2.AsyncClient, client: httpx2.AsyncClient
) -> None:
    deployment = await deploy(client)
    response = await remote_client.delete(f"/api/workflows/{deployment['id']}", headers=bearer(deployment["apiKey"]))
    assert response.status_code == 200
    assert response.json() == {
        "success": True,
        "message": "Workflow deleted successfully",
        "workflow": {"id": deployment["id"], "slug": "hello-world"},
    }
    after = await remote_client.post(
        "/api/workflows/hello-world/execute", json={"name": "x"}, headers=bearer(deployment["apiKey"])
    )
    assert (after.status_code, after.json()["code"]) == (401, "invalid_api_key")
    assert (await client.get("/api/workflows/hello-world")).status_code == 404


async def test_another_deployments_key_is_forbidden(
    remote_client: httpx2.AsyncClient, client: httpx2.AsyncClient
) -> None:
    first = await deploy(client, name="First")
    second = await deploy(client, name="Second")
    delete = await remote_client.delete(f"/api/workflows/{second['id']}", headers=bearer(first["apiKey"]))
    assert (delete.status_code, delete.json()["code"]) == (403, "access_denied")
    assert delete.json()["message"] == "This API key belongs to another workflow; it may not delete 'second'"
    regenerate = await remote_client.post(
        f"/api/workflows/{second['id']}/regenerate-key", headers=bearer(first["apiKey"])
    )
    assert regenerate.status_code == 403


async def test_regenerate_invalidates_the_old_key_at_once(
    remote_client: httpx2.AsyncClient, client: httpx2.AsyncClient
) -> None:
    deployment = await deploy(client)
    url = "/api/workflows/hello-world/execute"
    assert (await remote_client.post(url, json={"name": "a"}, headers=bearer(deployment["apiKey"]))).status_code == 200
    response = await remote_client.post(
        f"/api/workflows/{deployment['id']}/regenerate-key", headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200
    body = response.json()
    assert body["message"] == "API key regenerated successfully. Save it - it will not be shown again!"
    new_key = body["workflow"]["apiKey"]
    assert new_key != deployment["apiKey"]
    assert (await remote_client.post(url, json={"name": "a"}, headers=bearer(deployment["apiKey"]))).status_code == 401
    assert (await remote_client.post(url, json={"name": "a"}, headers=bearer(new_key))).status_code == 200


async def test_the_admin_recovers_a_lost_key(with_admin_key: dict[str, httpx2.AsyncClient]) -> None:
    remote = with_admin_key["remote"]
    created = await remote.post(
        "/api/deploy",
        json={"name": "Lost", "workflow": {"nodes": [{"id": "o", "type": "output"}], "edges": []}},
        headers=bearer(ADMIN),
    )
    deployment_id = created.json()["deployment"]["id"]
    recovered = await remote.post(f"/api/workflows/{deployment_id}/regenerate-key", headers=bearer(ADMIN))
    assert recovered.status_code == 200
    key = recovered.json()["workflow"]["apiKey"]
    executed = await remote.post("/api/workflows/lost/execute", json={}, headers=bearer(key))
    assert executed.status_code == 200


@pytest.mark.parametrize(("method", "suffix"), [("DELETE", ""), ("POST", "/regenerate-key")])
async def test_ids_must_be_uuids(client: httpx2.AsyncClient, method: str, suffix: str) -> None:
    response = await client.request(method, f"/api/workflows/not-a-uuid{suffix}")
    assert (response.status_code, response.json()["code"]) == (400, "invalid_id")


async def test_deleting_twice_is_a_404(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    assert (await client.delete(f"/api/workflows/{deployment['id']}")).status_code == 200
    again = await client.delete(f"/api/workflows/{deployment['id']}")
    assert (again.status_code, again.json()["code"]) == (404, "workflow_not_found")
