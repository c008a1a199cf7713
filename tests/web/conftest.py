"""Fixtures of the Manager's tests: the app with an admin key, and a browser-like client that signs in
and sends the CSRF token its pages carry."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import httpx2
import pytest
from fastapi import FastAPI

from clara_runner.server.app import create_app
from clara_runner.settings import Settings
from tests.support import asgi_client, make_settings

ADMIN_KEY = "web-tests-admin-key-0123456789"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"|X-CSRF-Token&#34;:&#34;([^&]+)&#34;')


def csrf_of(page: str) -> str:
    """The CSRF token a Manager page carries (its forms' hidden field, or the htmx header on <body>)."""
    found = _CSRF.search(page)
    assert found is not None, "the page carries no CSRF token"
    return found.group(1) or found.group(2)


@pytest.fixture
def admin_settings(database_url: str, tmp_path: Path) -> Settings:
    return make_settings(database_url, tmp_path / "data", CLARA_ADMIN_KEY=ADMIN_KEY)


@pytest.fixture
async def admin_app(admin_settings: Settings) -> AsyncIterator[FastAPI]:
    application = create_app(admin_settings)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def visitor(admin_app: FastAPI) -> AsyncIterator[httpx2.AsyncClient]:
    """A browser that has not signed in to the server with an admin key."""
    async with asgi_client(admin_app) as http:
        yield http


@pytest.fixture
async def signed_in(visitor: httpx2.AsyncClient) -> httpx2.AsyncClient:
    """The same browser, signed in with the admin key."""
    response = await visitor.post("/manage/sign-in", data={"adminKey": ADMIN_KEY, "next": "/manage"})
    assert response.status_code == 303, response.text
    return visitor


async def page_csrf(http: httpx2.AsyncClient, path: str = "/manage") -> str:
    response = await http.get(path)
    assert response.status_code == 200, response.text
    return csrf_of(response.text)
