"""Who gets into the Manager: sign-in sessions (cookie attributes, idle and absolute expiry, sign-out),
the CSRF check on every change, and loopback-only use while no admin key is set."""

from __future__ import annotations

from datetime import datetime, timedelta

import httpx2
import pytest
from fastapi import FastAPI
from sqlalchemy import select, update

from clara_runner.clock import utcnow
from clara_runner.server.app import create_app
from clara_runner.settings import Settings
from clara_runner.store.tables import manager_sessions
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
    assert "Max-Age" not in cookie, "the server ends the session; the browser forgets it when it closes"
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


async def _age(app: FastAPI, **changes: datetime) -> None:
    """Move every stored session's times, as if time had passed."""
    database = app.state.runtime.database
    async with database.write() as conn:
        await conn.execute(update(manager_sessions).values(**changes))


async def test_a_session_idle_for_longer_than_the_setting_has_ended(
    signed_in: httpx2.AsyncClient, admin_app: FastAPI, admin_settings: Settings
) -> None:
    idle = timedelta(minutes=admin_settings.manager_idle_minutes)
    await _age(admin_app, started_at=utcnow() - idle, expires_at=utcnow() + timedelta(seconds=30))
    assert (await signed_in.get("/manage")).status_code == 200
    async with admin_app.state.runtime.database.read() as conn:
        (expires_at,) = (await conn.execute(select(manager_sessions.c.expires_at))).scalars()
    assert expires_at > utcnow() + idle - timedelta(seconds=5), "a request moves the idle deadline on"

    await _age(admin_app, expires_at=utcnow() - timedelta(seconds=1))
    assert (await signed_in.get("/manage")).status_code == 303
    async with admin_app.state.runtime.database.read() as conn:
        assert (await conn.execute(select(manager_sessions))).all() == [], "an ended session is deleted"


async def test_a_session_ends_after_its_lifetime_however_active(
    signed_in: httpx2.AsyncClient, admin_app: FastAPI, admin_settings: Settings
) -> None:
    lifetime = timedelta(hours=admin_settings.manager_session_hours)
    await _age(admin_app, started_at=utcnow() - lifetime, expires_at=utcnow() + timedelta(minutes=5))
    assert (await signed_in.get("/manage")).status_code == 303


async def test_a_new_admin_key_ends_every_session(signed_in: httpx2.AsyncClient, admin_settings: Settings) -> None:
    rotated = admin_settings.model_copy(update={"admin_key": "a-brand-new-admin-key-0123456789"})
    app = create_app(rotated)
    async with app.router.lifespan_context(app), asgi_client(app) as other:
        other.cookies = signed_in.cookies
        assert (await other.get("/manage")).status_code == 303


async def test_sign_out_ends_the_session_on_the_server(signed_in: httpx2.AsyncClient) -> None:
    token = signed_in.cookies["clara_manager"]
    csrf = await page_csrf(signed_in)
    await signed_in.post("/manage/sign-out", data={"csrf": csrf})
    signed_in.cookies.set("clara_manager", token, path="/manage")
    assert (await signed_in.get("/manage")).status_code == 303, "a copy of the cookie opens nothing"


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
