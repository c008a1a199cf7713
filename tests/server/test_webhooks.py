"""Webhook management over HTTP: admin-only, validated (the egress policy included), the secret shown once,
error envelopes with stable codes; the `allowCallbackUrl` option; the callback secret."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from pydantic import ValidationError

from tests.apps import client_for
from tests.support import HELLO_WORLD, REMOTE_CLIENT, asgi_client, bearer, deploy, make_settings

HOOK = "https://93.184.215.14/clara"
"""A public address (a literal: the tests need no DNS), never called: no run ends in these tests."""
ADMIN_KEY = "admin-key-for-tests"


def _hooks(slug: str = "hello-world") -> str:
    return f"/api/workflows/{slug}/webhooks"


async def _create(client: httpx2.AsyncClient, body: Any, **headers: str) -> httpx2.Response:
    return await client.post(_hooks(), json=body, headers=headers)


async def test_create_shows_the_secret_once_list_and_delete(client: httpx2.AsyncClient, tmp_path: Path) -> None:
    await deploy(client)
    created = await _create(client, {"url": HOOK, "events": ["run.succeeded", "run.failed"]})
    assert created.status_code == 201, created.text
    webhook = created.json()["webhook"]
    assert webhook["secret"].startswith("whsec_")
    assert len(webhook["secret"]) > 40
    assert (webhook["url"], webhook["events"]) == (HOOK, ["run.succeeded", "run.failed"])
    default = (await _create(client, {"url": HOOK + "/all"})).json()["webhook"]
    assert default["events"] == ["run.finished"]

    listed = (await client.get(_hooks())).json()["webhooks"]
    assert [item["id"] for item in listed] == [webhook["id"], default["id"]]
    assert all("secret" not in item for item in listed)
    assert webhook["secret"] not in (await client.get(_hooks())).text

    deleted = await client.delete(f"{_hooks()}/{webhook['id']}")
    assert deleted.status_code == 200, deleted.text
    assert [item["id"] for item in (await client.get(_hooks())).json()["webhooks"]] == [default["id"]]
    again = await client.delete(f"{_hooks()}/{webhook['id']}")
    assert (again.status_code, again.json()["code"]) == (404, "webhook_not_found")


async def test_bad_webhooks_are_refused_with_their_codes(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    cases = [
        ({"url": "ftp://93.184.215.14/x"}, "invalid_webhook_url"),
        ({"url": "/relative"}, "invalid_webhook_url"),
        ({"url": 42}, "invalid_webhook_url"),
        ({"url": "https://user:pw@93.184.215.14/x"}, "invalid_webhook_url"),
        ({"url": HOOK + "x" * 3000}, "invalid_webhook_url"),
        ({"url": "https://no-such-host.invalid/x"}, "invalid_webhook_url"),
        ({"url": HOOK, "events": []}, "invalid_webhook_events"),
        ({"url": HOOK, "events": "run.succeeded"}, "invalid_webhook_events"),
        ({"url": HOOK, "events": ["run.started"]}, "invalid_webhook_events"),
        ({"url": HOOK, "secret": "mine"}, "validation_failed"),
        (["not", "an", "object"], "validation_failed"),
    ]
    for body, code in cases:
        response = await _create(client, body)
        assert (response.status_code, response.json()["code"]) == (400, code), body
        assert response.json()["success"] is False
    missing = await client.post(_hooks("no-such-workflow"), json={"url": HOOK})
    assert (missing.status_code, missing.json()["code"]) == (404, "workflow_not_found")


async def test_a_url_the_egress_policy_refuses_is_refused_at_creation(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    for url in ("http://127.0.0.1:8080/hook", "http://localhost/hook", "http://10.1.2.3/x", "http://169.254.169.254/"):
        response = await _create(client, {"url": url})
        assert (response.status_code, response.json()["code"]) == (400, "invalid_webhook_url"), url
        assert "egress policy" in response.json()["message"]
        assert "EGRESS_ALLOW" in response.json()["message"], "the message says how the operator allows it"


async def test_the_policy_s_allowances_apply_to_webhooks(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path / "data", EGRESS_ALLOW_CIDRS="127.0.0.0/8") as client:
        await deploy(client)
        assert (await _create(client, {"url": "http://127.0.0.1:8080/hook"})).status_code == 201
        assert (await _create(client, {"url": "http://10.1.2.3/x"})).status_code == 400


async def test_webhooks_are_the_admin_s(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path / "data", CLARA_ADMIN_KEY=ADMIN_KEY) as client:
        deployed = await client.post(
            "/api/deploy", json={"name": "Hello World", "workflow": HELLO_WORLD}, headers=bearer(ADMIN_KEY)
        )
        key = deployed.json()["deployment"]["apiKey"]
        webhook = (await _create(client, {"url": HOOK}, **bearer(ADMIN_KEY))).json()["webhook"]
        base = f"{_hooks()}/{webhook['id']}"
        attempts = [
            await client.post(_hooks(), json={"url": HOOK}, headers=bearer(key)),
            await client.get(_hooks(), headers=bearer(key)),
            await client.delete(base, headers=bearer(key)),
            await client.get(f"{base}/deliveries", headers=bearer(key)),
            await client.post(f"{base}/deliveries/{webhook['id']}/redeliver", headers=bearer(key)),
            await client.get(_hooks()),
        ]
        for response in attempts:
            assert response.status_code == 401, response.text
            assert response.json()["code"] == "admin_key_required"
        assert [item["id"] for item in (await client.get(_hooks(), headers=bearer(ADMIN_KEY))).json()["webhooks"]] == [
            webhook["id"]
        ]


async def test_without_an_admin_key_only_this_machine_manages_webhooks(app: Any, client: httpx2.AsyncClient) -> None:
    await deploy(client)
    async with asgi_client(app, REMOTE_CLIENT) as remote:
        response = await remote.post(_hooks(), json={"url": HOOK})
    assert (response.status_code, response.json()["code"]) == (401, "admin_key_required")


async def test_unknown_deliveries_and_webhooks_are_404s(client: httpx2.AsyncClient) -> None:
    await deploy(client)
    webhook = (await _create(client, {"url": HOOK})).json()["webhook"]
    base = f"{_hooks()}/{webhook['id']}"
    empty = await client.get(f"{base}/deliveries")
    assert empty.json()["deliveries"] == []
    assert empty.json()["pagination"] == {"limit": 50, "offset": 0, "hasMore": False}
    checks = [
        (await client.get(f"{_hooks()}/00000000-0000-0000-0000-000000000000/deliveries"), "webhook_not_found"),
        (await client.get(f"{_hooks()}/not-a-uuid/deliveries"), "webhook_not_found"),
        (await client.post(f"{base}/deliveries/00000000-0000-0000-0000-000000000000/redeliver"), "delivery_not_found"),
        (await client.post(f"{base}/deliveries/nope/redeliver"), "delivery_not_found"),
    ]
    for response, code in checks:
        assert (response.status_code, response.json()["code"]) == (404, code)
    bad_page = await client.get(f"{base}/deliveries", params={"limit": "0"})
    assert bad_page.status_code == 400


async def test_allow_callback_url_is_an_admin_only_traffic_option(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client, allowCallbackUrl=True)
    assert deployment["allowCallbackUrl"] is True
    assert (await client.get("/api/workflows/hello-world")).json()["workflow"]["allowCallbackUrl"] is True
    other = await deploy(client, name="Other")
    assert other["allowCallbackUrl"] is False

    by_key = await client.put(
        "/api/workflows/hello-world",
        json={"workflow": HELLO_WORLD, "allowCallbackUrl": False},
        headers=bearer(deployment["apiKey"]),
    )
    assert (by_key.status_code, by_key.json()["code"]) == (403, "access_denied")
    assert "allowCallbackUrl" in by_key.json()["message"]
    by_admin = await client.put("/api/workflows/hello-world", json={"workflow": HELLO_WORLD, "allowCallbackUrl": False})
    assert by_admin.status_code == 200, by_admin.text
    assert (await client.get("/api/workflows/hello-world")).json()["workflow"]["allowCallbackUrl"] is False
    kept = await client.put(
        "/api/workflows/hello-world", json={"workflow": HELLO_WORLD}, headers=bearer(deployment["apiKey"])
    )
    assert kept.status_code == 200, "a key holder's PUT without traffic options is fine"

    bad = await client.post("/api/deploy", json={"name": "Bad", "workflow": HELLO_WORLD, "allowCallbackUrl": "yes"})
    assert bad.status_code == 400
    assert "allowCallbackUrl must be true or false" in bad.json()["validationErrors"]


async def test_the_callback_secret_is_the_deployment_s_own(client: httpx2.AsyncClient) -> None:
    first = await deploy(client, allowCallbackUrl=True)
    second = await deploy(client, name="Second")
    mine = await client.get("/api/workflows/hello-world/callback-secret", headers=bearer(first["apiKey"]))
    assert mine.status_code == 200, mine.text
    assert mine.json()["secret"].startswith("whsec_")
    assert (await client.get("/api/workflows/hello-world/callback-secret")).json() == mine.json(), "the admin's too"
    theirs = await client.get("/api/workflows/second/callback-secret", headers=bearer(second["apiKey"]))
    assert theirs.json()["secret"] != mine.json()["secret"]
    denied = await client.get("/api/workflows/hello-world/callback-secret", headers=bearer(second["apiKey"]))
    assert (denied.status_code, denied.json()["code"]) == (403, "access_denied")


async def test_settings_reject_a_bad_retry_schedule(database_url: str, tmp_path: Path) -> None:
    for schedule in ("5,soon", "-1"):
        with pytest.raises(ValidationError, match="retry schedule"):
            make_settings(database_url, tmp_path, WEBHOOK_RETRY_SCHEDULE=schedule)
    assert make_settings(database_url, tmp_path, WEBHOOK_RETRY_SCHEDULE="1, 2.5").webhook_retry_delays() == (1.0, 2.5)
