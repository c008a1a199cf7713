"""Who gets into the Manager: sign-in sessions (cookie attributes, idle and absolute expiry, sign-out),
the CSRF check on every change, and loopback-only use while no admin key is set."""

from __future__ import annotations

import time

import httpx2
import pytest
from fastapi import FastAPI

from clara_runner.security.sessions import SessionCodec
from clara_runner.settings import Settings
from tests.support import REMOTE_CLIENT, asgi_client
from tests.web.conftest import ADMIN_KEY, page_csrf

pytestmark = pytest.mark.asyncio


async def test_pages_send_a_browser_without_a_session_to_sign_in(visitor: httpx2.AsyncClient) -> None:
    page = await visitor.get("/manage/deployments/x/history")
    assert (page.status_code, page.headers["location"]) == (303, "/manage/sign-in?next=/manage/deployments/x/history")
    fragment = await visitor.get("/manage/health", headers={"HX-Request": "true"})
    assert (fragment.status_code, fragment.headers["hx-redirect"]) == (401, "/manage/sign-in?next=/manage/health")
    sign_in = await visitor.get("/manage/sign-in")
    assert sign_in.status_code == 200
    assert "Admin key" in sign_in.text
    assert sign_in.headers["content-security-policy"].startswith("default-src 'none'; script-src 'self'")


async def test_a_wrong_admin_key_opens_nothing(visitor: httpx2.AsyncClient) -> None:
    response = await visitor.post("/manage/sign-in", data={"adminKey": "guess"})
    assert response.status_code == 401
    assert "not the admin key" in response.text
    assert "clara_manager" not in visitor.cookies


async def test_the_admin_key_opens_a_strict_http_only_session(visitor: httpx2.AsyncClient) -> None:
    response = await visitor.post("/manage/sign-in", data={"adminKey": ADMIN_KEY, "next": "/manage/deploy"})
    assert (response.status_code, response.headers["location"]) == (303, "/manage/deploy")
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("clara_manager=")
    for attribute in ("HttpOnly", "Path=/manage", "SameSite=strict"):
        assert attribute in cookie
    assert "Secure" not in cookie, "served over plain HTTP, the cookie must still reach the server"
    assert (await visitor.get("/manage/deploy")).status_code == 200


async def test_sign_in_never_sends_the_browser_to_another_site(visitor: httpx2.AsyncClient) -> None:
    for target in ("https://evil.example/", "//evil.example/manage", "/api/deploy"):
        response = await visitor.post("/manage/sign-in", data={"adminKey": ADMIN_KEY, "next": target})
        assert response.headers["location"] == "/manage"


async def test_over_https_the_cookie_is_secure(admin_app: FastAPI) -> None:
    transport = httpx2.ASGITransport(app=admin_app, client=("127.0.0.1", 50000))
    async with httpx2.AsyncClient(transport=transport, base_url="https://localhost") as http:
        response = await http.post("/manage/sign-in", data={"adminKey": ADMIN_KEY})
    assert "Secure" in response.headers["set-cookie"]


async def test_every_change_needs_the_session_csrf_token(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in)
    refused = await signed_in.post("/manage/deploy/preview", data={"workflow": "{}"})
    assert refused.status_code == 403
    assert "csrf_failed" in refused.text
    forged = await signed_in.post("/manage/deploy/preview", data={"workflow": "{}", "csrf": "not-it"})
    assert forged.status_code == 403
    by_field = await signed_in.post("/manage/deploy/preview", data={"workflow": "{}", "csrf": csrf})
    by_header = await signed_in.post("/manage/deploy/preview", data={"workflow": "{}"}, headers={"X-CSRF-Token": csrf})
    assert (by_field.status_code, by_header.status_code) == (200, 200)


async def test_a_change_from_another_sites_page_is_refused_even_with_the_token(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in)
    response = await signed_in.post(
        "/manage/deploy/preview", data={"csrf": csrf}, headers={"Origin": "https://evil.example"}
    )
    assert response.status_code == 403
    assert "own pages" in response.text


async def test_sign_out_ends_the_session_in_the_browser(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in)
    response = await signed_in.post("/manage/sign-out", data={"csrf": csrf})
    assert (response.status_code, response.headers["location"]) == (303, "/manage/sign-in")
    assert 'clara_manager=""' in response.headers["set-cookie"]
    assert (await signed_in.get("/manage")).status_code == 303


def _codec(settings: Settings) -> SessionCodec:
    return SessionCodec(
        settings.secret_key.encode(),
        settings.admin_key,
        idle_seconds=settings.manager_idle_minutes * 60,
        max_seconds=settings.manager_session_hours * 3600,
    )


async def test_a_session_idle_for_longer_than_the_setting_has_ended(
    visitor: httpx2.AsyncClient, admin_settings: Settings
) -> None:
    codec = _codec(admin_settings)
    now = int(time.time())
    idle = admin_settings.manager_idle_minutes * 60
    recent = codec.start(now - idle + 30)
    visitor.cookies.set("clara_manager", codec.encode(recent), path="/manage")
    response = await visitor.get("/manage")
    assert response.status_code == 200
    assert "clara_manager=" in response.headers["set-cookie"], "a request moves the idle deadline on"

    visitor.cookies.clear()
    visitor.cookies.set("clara_manager", codec.encode(codec.start(now - idle - 1)), path="/manage")
    assert (await visitor.get("/manage")).status_code == 303


async def test_a_session_ends_after_its_lifetime_however_active(
    visitor: httpx2.AsyncClient, admin_settings: Settings
) -> None:
    codec = _codec(admin_settings)
    now = int(time.time())
    old = codec.start(now - admin_settings.manager_session_hours * 3600 - 1)
    active = type(old)(started=old.started, seen=now, csrf=old.csrf)
    visitor.cookies.set("clara_manager", codec.encode(active), path="/manage")
    assert (await visitor.get("/manage")).status_code == 303


async def test_without_an_admin_key_only_this_machine_gets_in(app: FastAPI, client: httpx2.AsyncClient) -> None:
    page = await client.get("/manage")
    assert page.status_code == 200
    assert "Sign out" not in page.text
    csrf = await page_csrf(client)
    assert (await client.post("/manage/deploy/preview", data={"csrf": csrf})).status_code == 200
    async with asgi_client(app, REMOTE_CLIENT) as remote:
        refused = await remote.get("/manage")
    assert refused.status_code == 401
    assert "admin_key_required" in refused.text
    proxied = await client.get("/manage", headers={"X-Forwarded-For": "203.0.113.9"})
    assert proxied.status_code == 401


async def test_root_opens_the_manager_and_the_api_docs_stay(client: httpx2.AsyncClient) -> None:
    root = await client.get("/")
    assert (root.status_code, root.headers["location"]) == (307, "/manage")
    assert (await client.get("/api/docs")).status_code == 200
