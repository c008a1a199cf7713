"""One regression test per security hole of the original server (reference §8, items 1-9).

Items 2 and 9 (custom code and expressions) are written against the public API so that they hold
whatever runs custom nodes: today this server refuses them at deploy; once the sandbox runs them,
the same tests check that `process.env` stays unreadable and that a busy loop cannot freeze the
server. Item 3's mechanism (which client, so which keys, a URL gets) is tested directly here; the
LLM node's own end-to-end test belongs with that node.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.flow.context import HttpClients, default_http_clients
from tests.apps import client_for
from tests.loopback import loopback_server, redirect, reply
from tests.nodes import chain
from tests.serving import app_with_test_nodes
from tests.support import HELLO_WORLD, LiveServer, asgi_client, bearer, deploy, make_settings, server_env

CANARY = "canary-env-secret-9f8e7d6c"


@pytest.fixture(scope="module")
def canary_server(module_database_url: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """A real server with a secret in its environment and a short run deadline, shared by the module's tests
    (each deploys under its own name)."""
    data_dir = tmp_path_factory.mktemp("canary") / "data"
    env = server_env(
        module_database_url, data_dir, CLARA_CANARY=CANARY, OPENAI_API_KEY=CANARY, MAX_EXECUTION_TIME="2000"
    )
    with LiveServer(env) as server:
        yield server


# 1. Unauthenticated deploy, list, details of management from a remote client.
async def test_1_remote_clients_cannot_manage_without_the_admin_key(
    client: httpx2.AsyncClient, remote_client: httpx2.AsyncClient
) -> None:
    deployment = await deploy(client)
    attempts = [
        await remote_client.post("/api/deploy", json={"name": "Intruder", "workflow": HELLO_WORLD}),
        await remote_client.get("/api/deployments"),
        await remote_client.delete(f"/api/workflows/{deployment['id']}"),
        await remote_client.post(f"/api/workflows/{deployment['id']}/regenerate-key"),
        await remote_client.get("/api/workflows/hello-world/executions"),
    ]
    for response in attempts:
        assert response.status_code == 401, response.text
    assert [item["name"] for item in (await client.get("/api/deployments")).json()["deployments"]] == ["Hello World"]


# 2. Remote code execution through custom nodes and if-else expressions.
ESCAPES = """
const found = [];
try { found.push(JSON.stringify(process.env)); } catch (e) {}
try { found.push(globalThis.process.env.CLARA_CANARY); } catch (e) {}
try { found.push(require('child_process').execSync('env').toString()); } catch (e) {}
try { found.push(this.constructor.constructor('return process')().env.CLARA_CANARY); } catch (e) {}
return { output: found.join('|') || 'nothing' };
"""


def _custom_node_workflow(code: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Text", "value": "x"}},
            {"id": "spy", "type": "spy", "data": {}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
        ],
        "connections": [{"source": "in", "target": "spy"}, {"source": "spy", "target": "out"}],
        "customNodes": [
            {
                "type": "spy",
                "name": "Spy",
                "inputs": [{"id": "input", "name": "Input"}],
                "outputs": [{"id": "output", "name": "Output"}],
                "executionCode": code,
            }
        ],
    }


EXPRESSION_WORKFLOW: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Text", "value": "x"}},
        {"id": "check", "type": "if-else", "data": {"expression": "process.env.CLARA_CANARY"}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
    ],
    "connections": [{"source": "in", "target": "check"}, {"source": "check", "target": "out", "sourceHandle": "true"}],
}


@pytest.mark.parametrize(
    ("name", "workflow"),
    [("Spy custom", _custom_node_workflow(ESCAPES)), ("Spy expression", EXPRESSION_WORKFLOW)],
    ids=["custom", "expression"],
)
def test_2_workflow_code_cannot_read_the_server_environment(
    canary_server: LiveServer, name: str, workflow: dict[str, Any]
) -> None:
    with httpx2.Client(base_url=canary_server.base_url, timeout=30) as http:
        deployed = http.post("/api/deploy", json={"name": name, "workflow": workflow})
        assert deployed.status_code == 201, deployed.text
        slug, key = deployed.json()["deployment"]["slug"], deployed.json()["deployment"]["apiKey"]
        executed = http.post(f"/api/workflows/{slug}/execute", json={"text": "x"}, headers=bearer(key))
        seen = [deployed, executed, http.get(f"/api/workflows/{slug}/executions", headers=bearer(key))]
    assert executed.status_code == 200, executed.text
    for response in seen:
        assert response.status_code < 500
        assert CANARY not in response.text
        assert "CLARA_CANARY" not in response.text.replace("process.env.CLARA_CANARY", "")


# 3. Server provider keys sent to a base URL the workflow chose.
OWNED = ["https://api.openai.com/v1/chat/completions", "https://api.openai.com/v1", "http://localhost:8188/prompt"]
FOREIGN = [
    "https://api.openai.com.evil.example/v1/chat/completions",
    "https://api.openai.com/v1@evil.example/chat",
    "https://api.openai.com/v1.evil.example/",
    "https://evil.example/https://api.openai.com/v1/",
    "https://api.openai.com/v10/chat",
    "https://user@api.openai.com/v1/chat",
    "http://localhost:8188@evil.example/",
    "http://localhost:81880/",
    "https://api.openai.com/v1\\@evil.example/",
    "http://169.254.169.254/latest/meta-data/",
]


@pytest.mark.parametrize("url", OWNED + FOREIGN)
async def test_3_only_configured_service_urls_get_the_service_client_and_its_keys(url: str, tmp_path: Path) -> None:
    settings = make_settings(
        "sqlite://",
        tmp_path,
        OPENAI_API_KEY="sk-server-key",
        OPENAI_API_BASE_URL="https://api.openai.com/v1",
        COMFYUI_URL="http://localhost:8188",
    )
    endpoints = settings.service_endpoints()
    clients: HttpClients = default_http_clients()
    try:
        chosen = clients.for_url(url, endpoints)
    finally:
        await clients.aclose()
    assert endpoints.owns(url) is (url in OWNED)
    assert (chosen is clients.services) is (url in OWNED)
    assert (endpoints.key_for(url) == "sk-server-key") is (url in OWNED[:2])
    if url in OWNED:
        hosts = {httpx2.URL(base).host for base in endpoints.trusted}
        assert httpx2.URL(url).host in hosts


DEFAULT_SERVICE_URLS = [
    "http://localhost:8188/prompt",
    "http://localhost:5001/transcribe",
    "http://localhost:8069/api/execute-agent",
    "http://localhost:11434/v1/chat/completions",
    "http://127.0.0.1:8092/api/servers",
]


def test_3_built_in_service_urls_are_not_trusted_until_the_operator_sets_them(tmp_path: Path) -> None:
    """A default is where a node calls when nobody configured the service, not a place anyone vouched
    for; the provider key stays bound to its base URL either way."""
    unset = make_settings("sqlite://", tmp_path, OPENAI_API_KEY="sk-server-key").service_endpoints()
    assert not any(unset.owns(url) for url in [*DEFAULT_SERVICE_URLS, "https://api.openai.com/v1/chat"])
    assert unset.key_for("https://api.openai.com/v1/chat") == "sk-server-key"
    explicit = make_settings("sqlite://", tmp_path, COMFYUI_URL="http://localhost:8188").service_endpoints()
    assert [explicit.owns(url) for url in DEFAULT_SERVICE_URLS] == [True, False, False, False, False]


def _api_request(url: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "call", "type": "api-request", "data": {"url": url, "retries": 0, "responseType": "text"}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
        ],
        "connections": [{"source": "call", "target": "out", "sourceHandle": "data", "targetHandle": "input"}],
    }


async def _run(http: httpx2.AsyncClient, url: str, name: str) -> httpx2.Response:
    deployment = await deploy(http, _api_request(url), name=name)
    return await http.post(
        f"/api/workflows/{deployment['slug']}/execute", json={}, headers=bearer(deployment["apiKey"])
    )


async def test_3_a_workflow_cannot_reach_a_default_service_url_nobody_configured(client: httpx2.AsyncClient) -> None:
    for index, url in enumerate(DEFAULT_SERVICE_URLS):
        response = await _run(client, url, f"Default {index}")
        body = response.json()
        assert (response.status_code, body["code"]) == (422, "egress_blocked"), response.text
        host = httpx2.URL(url).host
        assert f"egress to {host} is blocked by the egress policy" in body["message"]


async def test_3_a_configured_service_cannot_redirect_a_call_out_of_its_origin(
    database_url: str, tmp_path: Path
) -> None:
    async with loopback_server(root=reply("internal")) as inner, loopback_server() as service:
        service.routes["/hop"] = redirect(f"{service.url}/ok")
        service.routes["/ok"] = reply("same origin")
        service.routes["/away"] = redirect(f"{inner.url}/")
        service.routes["/away-by-name"] = redirect(f"http://localhost:{service.port}/ok")
        service.routes["/to-metadata"] = redirect("http://169.254.169.254/latest/meta-data/")
        async with client_for(database_url, tmp_path, PYTHON_BACKEND_URL=service.url) as http:
            followed = await _run(http, f"{service.url}/hop", "Hop")
            refused = [
                await _run(http, f"{service.url}/{path}", path) for path in ("away", "away-by-name", "to-metadata")
            ]
    assert followed.status_code == 200, followed.text
    assert followed.json()["outputs"] == {"result": "same origin"}
    for response in refused:
        body = response.json()
        assert (response.status_code, body["code"]) == (422, "egress_blocked"), response.text
        assert "redirects from configured services are followed only within the service's own origin" in body["message"]
    assert inner.requests == []
    assert service.requests == ["GET /hop", "GET /ok", "GET /away", "GET /away-by-name", "GET /to-metadata"]


# 4. Server-side request forgery through a workflow-chosen URL.
async def test_4_a_workflow_cannot_reach_the_metadata_endpoint(database_url: str, tmp_path: Path) -> None:
    app = app_with_test_nodes(database_url, tmp_path / "data", EGRESS_ALLOW_PRIVATE="true")
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        workflow = chain({"id": "fetch", "type": "test-fetch", "data": {"url": "http://169.254.169.254/latest/"}})
        deployment = await deploy(http, workflow, name="Metadata")
        response = await http.post("/api/workflows/metadata/execute", json={}, headers=bearer(deployment["apiKey"]))
    assert response.status_code == 422
    assert response.json()["code"] == "egress_blocked"
    assert "cloud metadata address" in response.json()["message"]


# 5. Stored XSS in the docs page through the deployment name.
async def test_5_the_docs_page_escapes_the_deployment_name(client: httpx2.AsyncClient) -> None:
    name = "<script>alert(1)</script><img src=x onerror=alert(2)>\"'"
    deployment = await deploy(client, name=name, slug="xss")
    page = await client.get("/api/workflows/xss/docs")
    assert page.status_code == 200
    assert "<script>alert(1)" not in page.text
    assert "<img src=x" not in page.text
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.text
    assert re.findall(r"<script[^>]*>", page.text) == [
        '<script src="/api/static/vendor/swagger-ui-bundle.js">',
        '<script src="/api/static/app/swagger-init.js">',
    ]
    assert "script-src 'self'" in page.headers["content-security-policy"]
    assert deployment["name"] == name


# 6. /health leaking the database host and which provider keys are configured.
def test_6_health_names_no_hosts_and_no_settings(canary_server: LiveServer) -> None:
    response = httpx2.get(f"{canary_server.base_url}/health")
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"status", "service", "version", "timestamp", "uptime", "database"}
    info = httpx2.get(f"{canary_server.base_url}/api/info").text
    for text in (response.text, info):
        assert CANARY not in text
        assert "sqlite" not in text.lower()
        assert "openai" not in text.lower()


# 7. Plaintext secrets in execution records: see tests/e2e/test_secrets.py, which plants them in the
#    workflow, the request and upstream errors and searches rows, responses and logs.


# 8. A lost key could not be replaced without the key itself.
async def test_8_the_admin_replaces_a_lost_key_without_knowing_it(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client)
    lost = deployment["apiKey"]
    regenerated = await client.post(f"/api/workflows/{deployment['id']}/regenerate-key")
    assert regenerated.status_code == 200
    new_key = regenerated.json()["workflow"]["apiKey"]
    assert new_key != lost
    old = await client.post("/api/workflows/hello-world/execute", json={"name": "A"}, headers=bearer(lost))
    new = await client.post("/api/workflows/hello-world/execute", json={"name": "A"}, headers=bearer(new_key))
    assert old.status_code == 401
    assert new.status_code == 200


# 9. A CPU-bound custom node or expression freezing every request.
BUSY_EXPRESSION = {
    **EXPRESSION_WORKFLOW,
    "nodes": [
        EXPRESSION_WORKFLOW["nodes"][0],
        {"id": "check", "type": "if-else", "data": {"expression": "(() => { while (true) {} })()"}},
        EXPRESSION_WORKFLOW["nodes"][2],
    ],
}


@pytest.mark.parametrize(
    ("name", "workflow"),
    [("Busy custom", _custom_node_workflow("while (true) {}")), ("Busy expression", BUSY_EXPRESSION)],
    ids=["custom", "expression"],
)
async def test_9_a_busy_loop_neither_freezes_the_server_nor_outlives_the_deadline(
    canary_server: LiveServer, name: str, workflow: dict[str, Any]
) -> None:
    async with canary_server.client(timeout=60) as http:
        deployed = await http.post("/api/deploy", json={"name": name, "workflow": workflow})
        assert deployed.status_code == 201, deployed.text
        slug, key = deployed.json()["deployment"]["slug"], deployed.json()["deployment"]["apiKey"]
        running = asyncio.create_task(http.post(f"/api/workflows/{slug}/execute", json={}, headers=bearer(key)))
        await asyncio.sleep(0.5)
        assert (await http.get("/health")).status_code == 200
        response = await running
        assert response.status_code in (422, 504)
        assert response.json()["code"] in ("execution_timeout", "node_timeout", "workflow_failed")
        assert (await http.get("/health")).status_code == 200
