"""ALLOWED_HOSTS, and who gets management's loopback trust: DNS rebinding, foreign origins, proxies.

In-process over ASGI, and through `clara-runner serve` itself, whose uvicorn rewrites the client
address from `X-Forwarded-For` (`proxy_headers`) before the app sees the request.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx2
import pytest
from structlog.testing import capture_logs

from clara_runner.server.app import create_app
from tests.apps import client_for, serving
from tests.support import HELLO_WORLD, LiveServer, bearer, deploy, make_settings

REBIND = "rebind.attacker.example"
DEPLOY_BODY: dict[str, Any] = {"name": "Rebound", "workflow": HELLO_WORLD}


def _refused(response: httpx2.Response) -> bool:
    return response.status_code == 400 and response.json()["code"] == "host_not_allowed"


async def test_a_dns_rebinding_page_is_refused_before_routing(client: httpx2.AsyncClient) -> None:
    """The page's name now points at 127.0.0.1: the request comes from loopback, with the attacker's
    name in both Host and Origin. Nothing answers it, the execute fast lane included."""
    deployment = await deploy(client)
    page = {"Host": f"{REBIND}:3000", "Origin": f"http://{REBIND}:3000"}
    attempts = [
        await client.post("/api/deploy", json=DEPLOY_BODY, headers=page),
        await client.get("/api/deployments", headers={"Host": REBIND}),
        await client.get("/api/workflows/hello-world/schema", headers={"Host": REBIND}),
        await client.get("/api/workflows/hello-world/docs", headers={"Host": REBIND}),
        await client.get("/api/workflows/hello-world", headers={"Host": REBIND}),
        await client.get("/api/info", headers={"Host": REBIND}),
        await client.get("/health", headers={"Host": REBIND}),
        await client.get("/no/such/path", headers={"Host": REBIND}),
        await client.post(
            "/api/workflows/hello-world/execute",
            json={"name": "Ada"},
            headers={**page, **bearer(deployment["apiKey"])},
        ),
        await client.options("/api/workflows/hello-world/execute", headers=page),
    ]
    for response in attempts:
        assert _refused(response), response.text
        assert REBIND in response.json()["message"]
        assert "ALLOWED_HOSTS" in response.json()["message"]
    listed = (await client.get("/api/deployments")).json()["deployments"]
    assert [(item["slug"], item["executionCount"]) for item in listed] == [("hello-world", 0)]


@pytest.mark.parametrize(
    "host",
    [
        f"evil.example:{3000}",
        "localhost.evil.example",
        "127.0.0.1.nip.io",
        "localhost:bad",
        "localhost:99999",
        "[::2]:3000",
        "user@localhost",
        "",
    ],
)
async def test_other_hosts_and_malformed_ports_are_refused(client: httpx2.AsyncClient, host: str) -> None:
    assert _refused(await client.get("/health", headers={"Host": host}))


@pytest.mark.parametrize("host", ["localhost", "localhost:3000", "LOCALHOST.", "127.0.0.1:8080", "[::1]", "[::1]:3000"])
async def test_the_loopback_names_are_answered_on_any_port(client: httpx2.AsyncClient, host: str) -> None:
    deployed = await client.post("/api/deploy", json=DEPLOY_BODY, headers={"Host": host})
    assert deployed.status_code == 201, deployed.text
    assert deployed.json()["deployment"]["endpoint"] == f"http://{host}/api/workflows/rebound/execute"


async def test_allowed_hosts_replace_the_loopback_names_and_base_url_is_always_allowed(
    database_url: str, tmp_path: Path
) -> None:
    settings = {"ALLOWED_HOSTS": "Internal.Example., 10.0.0.5", "BASE_URL": "https://api.example.com"}
    async with client_for(database_url, tmp_path, **settings) as http:
        answered = [
            await http.get("/health", headers={"Host": host})
            for host in ("internal.example:3000", "10.0.0.5", "api.example.com", "api.example.com:443")
        ]
        refused = [await http.get("/health", headers={"Host": host}) for host in ("localhost", "127.0.0.1:3000")]
        schema = await http.get("/api/openapi.json", headers={"Host": "internal.example"})
    assert [response.status_code for response in answered] == [200, 200, 200, 200]
    assert all(_refused(response) for response in refused)
    assert schema.status_code == 200


@pytest.mark.parametrize(("admin_key", "warned"), [("", True), ("admin-key-for-tests-0123456789", False)])
async def test_the_wildcard_without_an_admin_key_is_warned_about_at_start(
    database_url: str, tmp_path: Path, admin_key: str, warned: bool
) -> None:
    app = create_app(make_settings(database_url, tmp_path, ALLOWED_HOSTS="*", CLARA_ADMIN_KEY=admin_key))
    with capture_logs() as logs:
        async with serving(app):
            pass
    assert ("any_host_with_loopback_trust" in [entry["event"] for entry in logs]) is warned


async def test_the_wildcard_answers_any_host_but_gives_its_pages_no_loopback_trust(
    database_url: str, tmp_path: Path
) -> None:
    """`*` is for a server behind a proxy that checks Host itself. Management still compares a page's
    Origin with the hosts the operator named, never with the request's own Host."""
    async with client_for(database_url, tmp_path, ALLOWED_HOSTS="*") as http:
        health = await http.get("/health", headers={"Host": "anything.example"})
        rebound = await http.post(
            "/api/deploy", json=DEPLOY_BODY, headers={"Host": REBIND, "Origin": f"http://{REBIND}"}
        )
    assert health.status_code == 200
    assert (rebound.status_code, rebound.json()["code"]) == (401, "admin_key_required")


@pytest.mark.parametrize(
    ("host", "origin", "trusted"),
    [
        ("localhost:3000", "http://localhost:3000", True),
        ("127.0.0.1:3000", "http://localhost:3000", True),
        ("[::1]:3000", "http://[::1]:3000", True),
        ("localhost:3000", "http://localhost:8080", False),
        ("localhost:3000", "https://localhost:3000", False),
        ("localhost", "http://localhost:80", True),
        ("localhost", "http://localhost.attacker.example", False),
        ("localhost:3000", "null", False),
        ("localhost:3000", "http://localhost:99999", False),
    ],
)
async def test_a_page_gets_loopback_trust_only_from_an_allowed_host_on_this_port(
    client: httpx2.AsyncClient, host: str, origin: str, trusted: bool
) -> None:
    """A page on another port of the same machine (another local app) is another site."""
    response = await client.post("/api/deploy", json=DEPLOY_BODY, headers={"Host": host, "Origin": origin})
    assert response.status_code == (201 if trusted else 401), response.text


async def test_each_async_submit_links_to_the_run_under_the_host_it_was_sent_to(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    execute = "/api/workflows/hello-world/execute"
    for host in ["localhost:3000", "127.0.0.1:8080", "localhost:3000", "[::1]"]:
        headers = {**bearer(deployment["apiKey"]), "Prefer": "respond-async", "Host": host}
        accepted = await client.post(execute, json={"name": "Ada"}, headers=headers)
        assert accepted.status_code == 202, accepted.text
        body = accepted.json()
        assert body["statusUrl"] == f"http://{host}/api/executions/{body['executionId']}"
        assert accepted.headers["location"] == body["statusUrl"]
        assert body["eventsUrl"] == f"{body['statusUrl']}/events"
        assert body["cancelUrl"] == f"{body['statusUrl']}/cancel"


async def test_the_public_origin_of_base_url_is_the_servers_own(database_url: str, tmp_path: Path) -> None:
    async with client_for(database_url, tmp_path, BASE_URL="https://api.example.com") as http:
        own = await http.post("/api/deploy", json=DEPLOY_BODY, headers={"Origin": "https://api.example.com"})
        other_port = await http.post(
            "/api/deploy", json={**DEPLOY_BODY, "name": "Other"}, headers={"Origin": "https://api.example.com:8443"}
        )
    assert own.status_code == 201
    assert own.json()["deployment"]["endpoint"] == "https://api.example.com/api/workflows/rebound/execute"
    assert other_port.status_code == 401


@pytest.mark.parametrize(
    "header",
    [
        {"X-Forwarded-For": "127.0.0.1"},
        {"X-Forwarded-For": "203.0.113.7"},
        {"Forwarded": "for=127.0.0.1"},
        {"X-Real-IP": "127.0.0.1"},
        {"Via": "1.1 nginx"},
    ],
)
async def test_a_request_through_a_proxy_is_never_loopback(client: httpx2.AsyncClient, header: dict[str, str]) -> None:
    """A proxy on this machine connects from loopback for every client it relays."""
    for response in (
        await client.post("/api/deploy", json=DEPLOY_BODY, headers=header),
        await client.get("/api/deployments", headers=header),
    ):
        assert (response.status_code, response.json()["code"]) == (401, "admin_key_required")
    assert (await client.post("/api/deploy", json=DEPLOY_BODY)).status_code == 201


async def test_through_a_proxy_the_admin_key_still_works(database_url: str, tmp_path: Path) -> None:
    admin = "admin-key-for-tests-0123456789"
    async with client_for(database_url, tmp_path, CLARA_ADMIN_KEY=admin) as http:
        response = await http.post(
            "/api/deploy", json=DEPLOY_BODY, headers={"X-Forwarded-For": "203.0.113.7", **bearer(admin)}
        )
    assert response.status_code == 201


async def test_the_real_server_refuses_rebinding_and_proxied_clients(live_server: LiveServer) -> None:
    """uvicorn trusts `X-Forwarded-For` from 127.0.0.1 and rewrites the client address from it: a client
    that writes `127.0.0.1` there looks local to the app, and is still refused by the header's presence."""
    async with live_server.client() as http:
        key = (await deploy(http))["apiKey"]
        rebound = await http.post(
            "/api/deploy",
            json=DEPLOY_BODY,
            headers={"Host": f"{REBIND}:{live_server.port}", "Origin": f"http://{REBIND}"},
        )
        executed = await http.post(
            "/api/workflows/hello-world/execute", json={"name": "A"}, headers={"Host": REBIND, **bearer(key)}
        )
        spoofed = [
            await http.post("/api/deploy", json=DEPLOY_BODY, headers={name: value})
            for name, value in (
                ("X-Forwarded-For", "127.0.0.1"),
                ("X-Forwarded-For", "127.0.0.1, 127.0.0.1"),
                ("Forwarded", "for=127.0.0.1"),
                ("X-Real-IP", "127.0.0.1"),
                ("Via", "1.1 proxy"),
            )
        ]
        listed = await http.get("/api/deployments")
    assert _refused(rebound)
    assert _refused(executed)
    for response in spoofed:
        assert (response.status_code, response.json()["code"]) == (401, "admin_key_required")
    assert [(item["slug"], item["executionCount"]) for item in listed.json()["deployments"]] == [("hello-world", 0)]
