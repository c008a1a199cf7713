"""The deploy dialog: a preview that writes nothing and lists every problem, then deploy with the key
shown once, and the same dialog for a new version."""

from __future__ import annotations

import json

import httpx2
import pytest

from tests.support import HELLO_WORLD, bearer, shared_workflow
from tests.web.conftest import ADMIN_KEY, page_csrf

pytestmark = pytest.mark.asyncio


async def post_form(http: httpx2.AsyncClient, path: str, **fields: str) -> httpx2.Response:
    csrf = await page_csrf(http, "/manage/deploy")
    return await http.post(path, data={"csrf": csrf, **fields}, headers={"HX-Request": "true"})


async def test_the_preview_names_the_endpoint_and_the_fields_and_deploys_nothing(signed_in: httpx2.AsyncClient) -> None:
    export = shared_workflow("simple-llm-flow.json")
    response = await post_form(signed_in, "/manage/deploy/preview", workflow=json.dumps(export))
    assert response.status_code == 200
    page = response.text
    assert "http://localhost/api/workflows/simple-llm-chat-flow/execute" in page
    assert "slug free" in page
    assert 'value="Simple LLM Chat Flow" hx-swap-oob' in page, "the name is pre-filled from the export"
    assert "<code>tellMeWhatToDo</code>" in page
    assert "Input schema" in page
    listed = await signed_in.get("/api/deployments", headers=bearer(ADMIN_KEY))
    assert listed.json()["deployments"] == []


async def test_the_preview_lists_every_problem_and_a_taken_slug(signed_in: httpx2.AsyncClient) -> None:
    await signed_in.post("/api/deploy", json={"name": "Taken", "workflow": HELLO_WORLD}, headers=bearer(ADMIN_KEY))
    broken = {"nodes": [{"id": "a", "type": "no-such-node"}, {"id": "a", "type": "input"}], "connections": []}
    page = (await post_form(signed_in, "/manage/deploy/preview", workflow=json.dumps(broken), slug="taken")).text
    assert "problems must be fixed before deploying" in page
    assert "The slug &#39;taken&#39; is already taken" in page
    assert "no-such-node" in page
    assert "slug taken" in page

    suffixed = (
        await post_form(signed_in, "/manage/deploy/preview", workflow=json.dumps(HELLO_WORLD), name="Taken")
    ).text
    assert "http://localhost/api/workflows/taken-1/execute" in suffixed
    assert "would get &#39;taken-1&#39;" in suffixed

    not_json = (await post_form(signed_in, "/manage/deploy/preview", workflow="{nodes: [")).text
    assert "The workflow is not valid JSON (line 1, column 2" in not_json


async def test_deploy_shows_the_key_once_with_snippets_that_carry_it(signed_in: httpx2.AsyncClient) -> None:
    response = await post_form(
        signed_in, "/manage/deploy", workflow=json.dumps(HELLO_WORLD), name="Greeter", description="Says hello"
    )
    assert response.status_code == 200
    assert response.headers["hx-retarget"] == "#deploy-dialog"
    page = response.text
    key = page.split('data-key-for="greeter">', 1)[1].split("<", 1)[0]
    assert key.startswith("clara_sk_")
    assert page.count(key) == 4, "the key, and in the curl, Python and JavaScript snippets"
    executed = await signed_in.post("/api/workflows/greeter/execute", json={"name": "Web"}, headers=bearer(key))
    assert executed.status_code == 200
    details = (await signed_in.get("/api/workflows/greeter")).json()["workflow"]
    assert (details["name"], details["description"]) == ("Greeter", "Says hello")


async def test_a_file_part_is_read_as_the_export(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in, "/manage/deploy")
    files = {"workflowFile": ("flow.json", json.dumps(shared_workflow("custom-node-export-example.json")).encode())}
    response = await signed_in.post("/manage/deploy", data={"csrf": csrf}, files=files, headers={"HX-Request": "true"})
    assert 'data-key-for="custom-node-flow"' in response.text


async def test_deploy_refuses_what_the_preview_refuses(signed_in: httpx2.AsyncClient) -> None:
    response = await post_form(signed_in, "/manage/deploy", name="Nothing")
    assert "workflow is required" in response.text
    assert "data-key-for" not in response.text


async def test_a_new_version_keeps_the_keys_and_shows_no_key(signed_in: httpx2.AsyncClient) -> None:
    deployed = await signed_in.post(
        "/api/deploy", json={"name": "Versioned", "workflow": HELLO_WORLD}, headers=bearer(ADMIN_KEY)
    )
    key = deployed.json()["deployment"]["apiKey"]
    dialog = await signed_in.get("/manage/deployments/versioned/deploy")
    assert 'value="Versioned"' in dialog.text
    preview = await post_form(
        signed_in, "/manage/deployments/versioned/deploy/preview", workflow=json.dumps(HELLO_WORLD)
    )
    assert "http://localhost/api/workflows/versioned/execute" in preview.text
    assert "slug taken" not in preview.text
    response = await post_form(
        signed_in, "/manage/deployments/versioned/deploy", workflow=json.dumps(HELLO_WORLD), name="Versioned Again"
    )
    assert "Version 2 is live" in response.text
    assert "data-key-for" not in response.text
    assert (
        await signed_in.post("/api/workflows/versioned/execute", json={"name": "v2"}, headers=bearer(key))
    ).is_success
    details = (await signed_in.get("/api/workflows/versioned")).json()["workflow"]
    assert (details["version"], details["name"]) == (2, "Versioned Again")


async def test_the_dialog_of_a_missing_deployment_says_so(signed_in: httpx2.AsyncClient) -> None:
    response = await signed_in.get("/manage/deployments/nothing-here/deploy")
    assert response.status_code == 404
    assert "workflow_not_found" in response.text


async def test_without_scripts_the_dialog_is_a_plain_form(signed_in: httpx2.AsyncClient) -> None:
    csrf = await page_csrf(signed_in, "/manage/deploy")
    refused = await signed_in.post("/manage/deploy", data={"csrf": csrf, "name": "Plain", "workflow": '{"nodes": 1}'})
    assert refused.status_code == 400
    assert refused.text.startswith("<!DOCTYPE html>")
    assert "must be fixed before deploying" in refused.text
    assert "&#34;nodes&#34;: 1" in refused.text, "what was sent is in the form again"
    assert 'value="Plain"' in refused.text

    deployed = await signed_in.post(
        "/manage/deploy", data={"csrf": csrf, "workflow": json.dumps(HELLO_WORLD), "name": "Plain"}
    )
    assert deployed.status_code == 200
    assert deployed.text.startswith("<!DOCTYPE html>")
    assert 'data-key-for="plain">clara_sk_' in deployed.text
