"""A deployment's keys in the Manager: create a named key (shown once), list, revoke, regenerate with an overlap."""

from __future__ import annotations

from typing import Any

import httpx2
import pytest

from tests.support import HELLO_WORLD, bearer
from tests.web.conftest import ADMIN_KEY, page_csrf

pytestmark = pytest.mark.asyncio


def shown_key(page: str, slug: str) -> str:
    return page.split(f'data-key-for="{slug}">', 1)[1].split("<", 1)[0]


async def execute(http: httpx2.AsyncClient, key: str) -> int:
    return (await http.post("/api/workflows/keyed/execute", json={"name": "k"}, headers=bearer(key))).status_code


@pytest.fixture
async def deployment(signed_in: httpx2.AsyncClient) -> dict[str, Any]:
    response = await signed_in.post(
        "/api/deploy", json={"name": "Keyed", "workflow": HELLO_WORLD}, headers=bearer(ADMIN_KEY)
    )
    found: dict[str, Any] = response.json()["deployment"]
    return found


async def test_a_named_key_is_shown_once_listed_by_prefix_and_revoked(
    signed_in: httpx2.AsyncClient, deployment: dict[str, Any]
) -> None:
    csrf = await page_csrf(signed_in, "/manage/deployments/keyed/keys")
    created = await signed_in.post(
        "/manage/deployments/keyed/keys",
        data={"csrf": csrf, "name": "billing", "expires": "2099-01-31"},
        headers={"HX-Request": "true"},
    )
    key = shown_key(created.text, "keyed")
    assert "“billing”" in created.text
    assert await execute(signed_in, key) == 200

    listed = (await signed_in.get("/manage/deployments/keyed/keys")).text
    assert key[:12] in listed
    assert key not in listed
    assert "2099-01-31 00:00:00 UTC" in listed
    listing = (await signed_in.get("/api/workflows/keyed/keys", headers=bearer(ADMIN_KEY))).json()
    billing = next(entry for entry in listing["keys"] if entry["name"] == "billing")
    revoked = await signed_in.post(f"/manage/deployments/keyed/keys/{billing['id']}/revoke", data={"csrf": csrf})
    assert revoked.status_code == 303
    assert await execute(signed_in, key) == 401
    assert await execute(signed_in, deployment["apiKey"]) == 200
    assert '<span class="badge deleted">revoked</span>' in (await signed_in.get("/manage/deployments/keyed/keys")).text


@pytest.mark.usefixtures("deployment")
async def test_bad_key_requests_are_explained(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in, "/manage/deployments/keyed/keys")
    unnamed = await signed_in.post(
        "/manage/deployments/keyed/keys", data={"csrf": csrf}, headers={"HX-Request": "true"}
    )
    assert unnamed.status_code == 400
    assert "name" in unnamed.text
    past = await signed_in.post(
        "/manage/deployments/keyed/keys", data={"csrf": csrf, "name": "old", "expires": "2001-01-01"}
    )
    assert "expiresAt must be in the future" in past.text
    not_a_date = await signed_in.post(
        "/manage/deployments/keyed/keys", data={"csrf": csrf, "name": "x", "expires": "soon"}
    )
    assert "a date such as 2030-01-31" in not_a_date.text
    unknown = await signed_in.post(
        "/manage/deployments/keyed/keys/00000000-0000-0000-0000-000000000000/revoke", data={"csrf": csrf}
    )
    assert unknown.status_code == 404


async def test_regenerate_can_keep_the_old_keys_for_an_overlap(
    signed_in: httpx2.AsyncClient, deployment: dict[str, Any]
) -> None:
    csrf = await page_csrf(signed_in, "/manage/deployments/keyed/keys")
    response = await signed_in.post(
        "/manage/deployments/keyed/regenerate-key",
        data={"csrf": csrf, "overlap": "3600"},
        headers={"HX-Request": "true"},
    )
    new_key = shown_key(response.text, "keyed")
    assert "the old keys work until" in response.text
    assert (await execute(signed_in, new_key), await execute(signed_in, deployment["apiKey"])) == (200, 200)

    again = await signed_in.post(
        "/manage/deployments/keyed/regenerate-key", data={"csrf": csrf, "overlap": "0"}, headers={"HX-Request": "true"}
    )
    newest = shown_key(again.text, "keyed")
    assert (await execute(signed_in, newest), await execute(signed_in, new_key)) == (200, 401)


@pytest.mark.usefixtures("deployment")
async def test_without_scripts_a_new_key_is_a_page_of_its_own(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in, "/manage/deployments/keyed/keys")
    response = await signed_in.post("/manage/deployments/keyed/keys", data={"csrf": csrf, "name": "plain"})
    assert response.text.startswith("<!DOCTYPE html>")
    assert await execute(signed_in, shown_key(response.text, "keyed")) == 200
