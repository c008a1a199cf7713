"""The egress policy: workflow-chosen URLs cannot reach loopback, private or metadata addresses,
checked on the resolved addresses, pinned to the checked address, and again on every redirect."""

from __future__ import annotations

import asyncio
import ipaddress
import re
import ssl
from collections.abc import Sequence
from pathlib import Path

import httpx2
import pytest
import trustme
from structlog.testing import capture_logs

from clara_runner.flow.context import HttpClients, default_http_clients
from clara_runner.runtime.services import Runtime
from clara_runner.security.egress import EgressBlocked, EgressPolicy, GuardedTransport, Resolver, forbidden_reason
from clara_runner.server.replies import render_execution
from tests.loopback import loopback_server, redirect, reply
from tests.nodes import chain
from tests.serving import app_with_test_nodes
from tests.support import asgi_client, bearer, deploy, make_settings

BLOCKED = [
    ("127.0.0.1", "loopback"),
    ("127.8.9.10", "loopback"),
    ("10.0.0.5", "private"),
    ("172.16.0.1", "private"),
    ("192.168.1.1", "private"),
    ("169.254.169.254", "metadata"),
    ("169.254.170.2", "metadata"),
    ("100.100.100.200", "metadata"),
    ("fd00:ec2::254", "metadata"),
    ("169.254.1.1", "link-local"),
    ("100.64.0.1", "non-public"),
    ("0.0.0.0", "unspecified"),  # noqa: S104
    ("::", "unspecified"),
    ("::1", "loopback"),
    ("fe80::1", "link-local"),
    ("fc00::1", "private"),
    ("fd12:3456::1", "private"),
    ("ff02::1", "multicast"),
    ("224.0.0.1", "multicast"),
    ("239.1.2.3", "multicast"),
    ("255.255.255.255", "private"),
    ("::ffff:10.0.0.1", "private address (embedded in"),
    ("2002:7f00:1::", "loopback address (embedded in"),
    ("64:ff9b::a00:5", "private address (embedded in"),
]


@pytest.mark.parametrize(("address", "reason"), BLOCKED)
def test_non_public_addresses_are_refused_with_the_reason(address: str, reason: str) -> None:
    found = forbidden_reason(ipaddress.ip_address(address))
    assert found is not None
    assert reason in found


@pytest.mark.parametrize("address", ["8.8.8.8", "1.1.1.1", "93.184.215.14", "2606:4700::1111", "2001:4860::8888"])
def test_public_addresses_pass(address: str) -> None:
    assert forbidden_reason(ipaddress.ip_address(address)) is None


def resolver(table: dict[str, list[str]], calls: list[str] | None = None) -> Resolver:
    """A resolver from a table, recording each lookup in `calls`."""

    async def resolve(host: str, port: int) -> Sequence[str]:
        del port
        if calls is not None:
            calls.append(host)
        return table[host]

    return resolve


def client(policy: EgressPolicy, table: dict[str, list[str]], calls: list[str] | None = None) -> httpx2.AsyncClient:
    return httpx2.AsyncClient(transport=GuardedTransport(policy, resolver(table, calls)), follow_redirects=True)


async def test_a_name_resolving_to_loopback_is_blocked_before_connecting() -> None:
    async with (
        loopback_server(root=reply("internal data")) as server,
        client(EgressPolicy(), {"evil.example": ["127.0.0.1"]}) as http,
    ):
        with pytest.raises(EgressBlocked) as blocked:
            await http.get(f"http://evil.example:{server.port}/")
    message = str(blocked.value)
    assert "egress to evil.example is blocked by the egress policy (it resolves to a loopback address)" in message
    assert "EGRESS_ALLOW_HOSTS=evil.example" in message
    assert "127.0.0.1" not in message, "the caller learns the host, the log the address"
    assert server.requests == []


async def test_every_resolved_address_is_checked_not_only_the_first() -> None:
    async with client(EgressPolicy(), {"mixed.example": ["93.184.215.14", "10.1.2.3"]}) as http:
        with capture_logs() as logs, pytest.raises(EgressBlocked, match="resolves to a private address") as blocked:
            await http.get("http://mixed.example/")
    assert "10.1.2.3" not in str(blocked.value)
    assert {"event": "egress_blocked", "host": "mixed.example", "address": "10.1.2.3"}.items() <= logs[-1].items()


async def test_real_localhost_and_ip_literals_are_blocked_with_the_system_resolver() -> None:
    async with (
        loopback_server(root=reply("internal")) as server,
        httpx2.AsyncClient(transport=GuardedTransport(EgressPolicy())) as http,
    ):
        for url in (f"http://localhost:{server.port}/", f"http://127.0.0.1:{server.port}/", "http://[::1]:9/"):
            with pytest.raises(EgressBlocked, match="loopback"):
                await http.get(url)
        with pytest.raises(EgressBlocked, match="metadata"):
            await http.get("http://169.254.169.254/latest/meta-data/")
        with pytest.raises(EgressBlocked, match="cloud metadata host name"):
            await http.get("http://metadata.google.internal/computeMetadata/v1/")
    assert server.requests == []


REBIND_POLICY = EgressPolicy.from_lists(allow_private=False, hosts=[], cidrs=["127.0.0.2/32"])


def rebinding(calls: list[str]) -> Resolver:
    """A DNS server that answers 127.0.0.2 (allowed by `REBIND_POLICY`), then 127.0.0.1 (blocked)."""
    answers = iter([["127.0.0.2"], ["127.0.0.1"]])

    async def resolve(host: str, port: int) -> Sequence[str]:
        del port
        calls.append(host)
        return next(answers)

    return resolve


async def test_an_allowed_host_connects_to_the_address_that_was_checked() -> None:
    """DNS rebinding: the second answer would point elsewhere; the connection uses the first, checked one."""
    calls: list[str] = []
    async with (
        loopback_server(host="127.0.0.2", root=reply("pinned")) as server,
        httpx2.AsyncClient(transport=GuardedTransport(REBIND_POLICY, rebinding(calls))) as http,
    ):
        response = await http.get(f"http://rebind.example:{server.port}/")
    assert response.text == "pinned"
    assert calls == ["rebind.example"]
    assert server.requests == ["GET /"]


async def test_every_new_connection_resolves_and_checks_again() -> None:
    """No DNS cache: the server closes each connection, and the next one's answer is checked anew."""
    calls: list[str] = []
    async with (
        loopback_server(host="127.0.0.2", root=reply("first")) as server,
        httpx2.AsyncClient(transport=GuardedTransport(REBIND_POLICY, rebinding(calls))) as http,
    ):
        assert (await http.get(f"http://rebind.example:{server.port}/")).text == "first"
        with pytest.raises(EgressBlocked, match=r"rebind\.example is blocked"):
            await http.get(f"http://rebind.example:{server.port}/")
    assert calls == ["rebind.example", "rebind.example"]
    assert server.requests == ["GET /"]


@pytest.mark.parametrize(
    ("host", "reason"),
    [
        ("127.1", "not a canonical IP address"),
        ("2130706433", "not a canonical IP address"),
        ("017700000001", "not a canonical IP address"),
        ("0x7f.1", "a loopback address"),
        ("[fe80::1%25lo]", "a link-local address"),
    ],
)
async def test_unusual_spellings_of_local_addresses_are_refused(host: str, reason: str) -> None:
    """Numeric host forms that the system resolver would map onto a local address never reach it."""
    async with (
        loopback_server(root=reply("internal")) as server,
        httpx2.AsyncClient(transport=GuardedTransport(EgressPolicy())) as http,
    ):
        with pytest.raises(EgressBlocked, match=reason):
            await http.get(f"http://{host}:{server.port}/")
    assert server.requests == []


async def test_redirects_into_private_space_are_blocked_on_every_hop() -> None:
    policy = EgressPolicy.from_lists(allow_private=False, hosts=["trusted.example"], cidrs=[])
    table = {"trusted.example": ["127.0.0.1"], "evil.example": ["127.0.0.1"]}
    async with loopback_server(root=reply("secret")) as inner, loopback_server() as outer:
        outer.routes["/to-evil"] = redirect(f"http://evil.example:{inner.port}/")
        outer.routes["/to-ip"] = redirect(f"http://127.0.0.1:{inner.port}/")
        outer.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/iam/")
        outer.routes["/to-metadata-name"] = redirect("http://metadata.google.internal/")
        outer.routes["/ok"] = reply("allowed")
        async with client(policy, table) as http:
            assert (await http.get(f"http://trusted.example:{outer.port}/ok")).text == "allowed"
            for path, where in [
                ("to-evil", "evil.example is blocked"),
                ("to-ip", "127.0.0.1"),
                ("to-metadata", "169.254.169.254"),
                ("to-metadata-name", "metadata.google.internal"),
            ]:
                with pytest.raises(EgressBlocked, match=f"egress to {re.escape(where)}"):
                    await http.get(f"http://trusted.example:{outer.port}/{path}")
    assert inner.requests == []
    assert len(outer.requests) == 5


async def test_allow_lists_open_exactly_what_they_name() -> None:
    table = {"api.internal.example": ["10.0.0.7"], "other.example": ["10.0.0.8"], "svc.corp.example": ["10.9.9.9"]}
    policy = EgressPolicy.from_lists(
        allow_private=False, hosts=["api.internal.example", "*.corp.example"], cidrs=["10.0.0.8/32"]
    )
    for host in table:
        for address in table[host]:
            policy.check_address(host, ipaddress.ip_address(address))
    with pytest.raises(EgressBlocked):
        policy.check_address("other.example", ipaddress.ip_address("10.0.0.9"))
    with pytest.raises(EgressBlocked):
        policy.check_address("corp.example.evil", ipaddress.ip_address("10.9.9.9"))


async def test_allow_private_opens_private_space_but_not_metadata() -> None:
    policy = EgressPolicy.from_lists(allow_private=True, hosts=[], cidrs=[])
    async with (
        loopback_server(root=reply("on-prem")) as server,
        client(policy, {"intranet.example": ["127.0.0.1"]}) as http,
    ):
        assert (await http.get(f"http://intranet.example:{server.port}/")).text == "on-prem"
        with pytest.raises(EgressBlocked, match="metadata"):
            await http.get("http://169.254.169.254/")
        with pytest.raises(EgressBlocked, match="metadata"):
            await http.get("http://metadata.google.internal/")


async def test_environment_proxies_cannot_bypass_the_policy(monkeypatch: pytest.MonkeyPatch) -> None:
    async with loopback_server(root=reply("proxied")) as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        monkeypatch.setenv("ALL_PROXY", proxy.url)
        clients = default_http_clients(GuardedTransport(EgressPolicy()))
        try:
            with pytest.raises(EgressBlocked):
                await clients.workflow.get("http://127.0.0.1:9/")
        finally:
            await clients.aclose()
    assert proxy.requests == []


async def test_settings_build_the_workflow_client_and_services_stay_reachable(tmp_path: Path) -> None:
    async with loopback_server(root=reply("comfy")) as comfy:
        settings = make_settings(f"sqlite:///{tmp_path / 'x.db'}", tmp_path, COMFYUI_URL=comfy.url)
        services = Runtime.build(settings, render=render_execution)
        http: HttpClients = services.http
        endpoints = settings.service_endpoints()
        try:
            assert http.for_url(f"{comfy.url}/prompt", endpoints) is http.services
            assert (await http.services.get(comfy.url + "/")).text == "comfy"
            with pytest.raises(EgressBlocked):
                await http.workflow.get(comfy.url + "/")
            with pytest.raises(EgressBlocked, match="only within the service's own origin"):
                await http.services.get(f"http://localhost:{comfy.port}/")
        finally:
            await services.stop()


async def test_a_blocked_call_fails_the_node_with_a_clear_coded_error(database_url: str, tmp_path: Path) -> None:
    async with loopback_server(root=reply("internal")) as server:
        app = app_with_test_nodes(database_url, tmp_path / "data")
        async with app.router.lifespan_context(app), asgi_client(app) as http:
            workflow = chain({"id": "fetch", "type": "test-fetch", "data": {"url": f"http://localhost:{server.port}/"}})
            deployment = await deploy(http, workflow, name="Fetcher")
            response = await http.post(
                "/api/workflows/fetcher/execute", json={"text": "go"}, headers=bearer(deployment["apiKey"])
            )
            history = await http.get("/api/workflows/fetcher/executions")
    assert response.status_code == 422
    body = response.json()
    assert body["code"] == "egress_blocked"
    assert body["nodeId"] == "fetch"
    assert "egress to localhost is blocked by the egress policy (it resolves to a loopback address)" in body["message"]
    assert "127.0.0.1" not in response.text
    assert "EGRESS_ALLOW_" in body["message"]
    [row] = history.json()["executions"]
    assert row["status"] == "error"
    assert row["errorCode"] == "egress_blocked"
    assert row["trace"][1]["status"] == "error"
    assert server.requests == []


async def test_the_operator_allow_list_lets_the_same_workflow_through(database_url: str, tmp_path: Path) -> None:
    async with loopback_server(root=reply("allowed data")) as server:
        app = app_with_test_nodes(database_url, tmp_path / "data", EGRESS_ALLOW_HOSTS="localhost")
        async with app.router.lifespan_context(app), asgi_client(app) as http:
            workflow = chain({"id": "fetch", "type": "test-fetch", "data": {"url": f"http://localhost:{server.port}/"}})
            deployment = await deploy(http, workflow, name="Fetcher")
            response = await http.post(
                "/api/workflows/fetcher/execute", json={"text": "go"}, headers=bearer(deployment["apiKey"])
            )
    assert response.status_code == 200, response.text
    assert response.json()["outputs"] == {"result": "allowed data"}


async def test_https_to_a_pinned_address_still_verifies_the_host_name() -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("api.partner.example")
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    certificate.configure_cert(server_context)
    client_context = ssl.create_default_context()
    authority.configure_trust(client_context)
    policy = EgressPolicy.from_lists(allow_private=False, hosts=["api.partner.example", "other.example"], cidrs=[])
    table = {"api.partner.example": ["127.0.0.1"], "other.example": ["127.0.0.1"]}

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\nConnection: close\r\n\r\nsecure")
        await writer.drain()
        writer.close()

    listener = await asyncio.start_server(answer, "127.0.0.1", 0, ssl=server_context)
    port = listener.sockets[0].getsockname()[1]
    transport = GuardedTransport(policy, resolver(table), verify=client_context)
    try:
        async with httpx2.AsyncClient(transport=transport) as http:
            assert (await http.get(f"https://api.partner.example:{port}/")).text == "secure"
            with pytest.raises(httpx2.ConnectError, match=r"certificate|hostname|match"):
                await http.get(f"https://other.example:{port}/")
    finally:
        listener.close()
        await listener.wait_closed()
