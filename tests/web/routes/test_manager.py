"""The deployment list: newest first, cursor pages that neither skip nor repeat, search, state filter."""

from __future__ import annotations

import html
import re

import httpx2
import pytest

from tests.support import HELLO_WORLD, bearer
from tests.web.conftest import ADMIN_KEY

pytestmark = pytest.mark.asyncio

_ROW_SLUG = re.compile(r'<div class="muted small">([a-z0-9-]+)</div>')
_LINK = re.compile(r'<a rel="(next|prev)" href="([^"]+)"')


def slugs_of(page: str) -> list[str]:
    return _ROW_SLUG.findall(page)


def links_of(page: str) -> dict[str, str]:
    return {rel: html.unescape(href) for rel, href in _LINK.findall(page)}


async def test_pages_walk_every_deployment_newest_first_and_back(signed_in: httpx2.AsyncClient) -> None:
    names = [f"Flow {number:02d}" for number in range(60)]
    admin = bearer(ADMIN_KEY)
    for name in names:
        response = await signed_in.post("/api/deploy", json={"name": name, "workflow": HELLO_WORLD}, headers=admin)
        assert response.status_code == 201
    newest_first = [f"flow-{number:02d}" for number in reversed(range(60))]

    pages: list[list[str]] = []
    response = await signed_in.get("/manage")
    while True:
        pages.append(slugs_of(response.text))
        after = links_of(response.text).get("next")
        if after is None:
            break
        response = await signed_in.get(after)
    assert [len(page) for page in pages] == [25, 25, 10]
    assert [slug for page in pages for slug in page] == newest_first
    assert "prev" not in links_of((await signed_in.get("/manage")).text)

    back = await signed_in.get(links_of(response.text)["prev"])
    assert slugs_of(back.text) == pages[1]
    first = await signed_in.get(links_of(back.text)["prev"])
    assert slugs_of(first.text) == pages[0]
    assert "prev" not in links_of(first.text)


async def test_search_by_name_or_slug_and_filter_by_state(signed_in: httpx2.AsyncClient) -> None:
    admin = bearer(ADMIN_KEY)
    for name in ("Invoice Reader", "Invoice 100% Writer", "Chat"):
        assert (
            await signed_in.post("/api/deploy", json={"name": name, "workflow": HELLO_WORLD}, headers=admin)
        ).is_success
    chat = (await signed_in.get("/api/workflows/chat")).json()["workflow"]
    assert (await signed_in.delete(f"/api/workflows/{chat['id']}", headers=admin)).is_success

    assert slugs_of((await signed_in.get("/manage?q=INVOICE")).text) == ["invoice-100-writer", "invoice-reader"]
    assert slugs_of((await signed_in.get("/manage?q=100%25")).text) == ["invoice-100-writer"]
    assert slugs_of((await signed_in.get("/manage?q=_")).text) == [], "LIKE wildcards are searched as text"
    assert slugs_of((await signed_in.get("/manage?q=reader")).text) == ["invoice-reader"]
    assert slugs_of((await signed_in.get("/manage?state=deleted")).text) == ["chat"]
    assert set(slugs_of((await signed_in.get("/manage?state=all")).text)) == {
        "chat",
        "invoice-100-writer",
        "invoice-reader",
    }
    empty = await signed_in.get("/manage?q=nothing-like-this")
    assert "No deployment matches" in empty.text


async def test_search_as_you_type_answers_only_the_list_which_refreshes_itself(signed_in: httpx2.AsyncClient) -> None:
    response = await signed_in.get("/manage?q=x&state=all", headers={"HX-Request": "true", "HX-Target": "listing"})
    assert response.text.startswith(
        '<section id="listing" aria-label="Deployments list" hx-get="/manage?q=x&amp;state=all" hx-trigger="every 30s"'
    )


async def test_a_list_row_shows_the_endpoint_key_prefix_and_the_days_runs(signed_in: httpx2.AsyncClient) -> None:
    response = await signed_in.post(
        "/api/deploy", json={"name": "Keyed", "workflow": HELLO_WORLD}, headers=bearer(ADMIN_KEY)
    )
    key = response.json()["deployment"]["apiKey"]
    for name in ("a", 1, "b", "c"):
        await signed_in.post("/api/workflows/keyed/execute", json={"name": name}, headers=bearer(key))
    page = (await signed_in.get("/manage")).text
    assert "http://localhost/api/workflows/keyed/execute" in page
    assert key[:12] in page
    assert key not in page
    assert '<td data-label="Success (24 h)">75 %</td>' in page


async def test_bad_list_parameters_are_explained(signed_in: httpx2.AsyncClient) -> None:
    for query, code in (
        ("state=gone", "invalid_parameter"),
        ("after=not-a-cursor", "invalid_cursor"),
        ("q=" + "x" * 101, "invalid_parameter"),
    ):
        response = await signed_in.get(f"/manage?{query}")
        assert response.status_code == 400, query
        assert code in response.text


async def test_health_shows_what_the_health_check_finds(signed_in: httpx2.AsyncClient) -> None:
    response = await signed_in.get("/manage/health", headers={"HX-Request": "true"})
    assert response.status_code == 200
    assert "healthy" in response.text
    assert "database: <strong>connected</strong>" in response.text
