"""Planted secrets never come back: not in execution rows (read through the API and straight from the
database), not in responses, not in the logs, not in `/health` or error bodies."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest
from sqlalchemy import create_engine, text

from clara_runner.security.redaction import REDACTED
from clara_runner.store.database import sync_database_url
from tests.serving import app_with_test_nodes, serve_in_process
from tests.support import bearer

SERVER_KEY = "sk-server-planted-0000000000000000"
WORKFLOW_KEY = "wf-planted-apikey-111111"
WORKFLOW_BEARER = "wf-planted-bearer-222222"
PROVIDER_KEY = "wf-planted-provider-333333"
PAIR_TOKEN = "wf-planted-pair-444444"
PIN_DEFAULT = "pin-planted-default-555555"
PIN = "pin-planted-request-666666"
PLANTED = [SERVER_KEY, WORKFLOW_KEY, WORKFLOW_BEARER, PROVIDER_KEY, PAIR_TOKEN, PIN_DEFAULT, PIN]

SECRET_DATA: dict[str, Any] = {
    "apiKey": WORKFLOW_KEY,
    "customProviderKey": PROVIDER_KEY,
    "headers": json.dumps({"Authorization": f"Bearer {WORKFLOW_BEARER}"}),
    "headerList": [{"key": "X-Auth-Token", "value": PAIR_TOKEN}],
}


def _workflow(last: dict[str, Any]) -> dict[str, Any]:
    """Pin (sensitive) and Text inputs -> a node that logs everything -> `last` -> output."""
    nodes = [
        {"id": "pin", "type": "input", "data": {"label": "Pin", "sensitive": True, "value": PIN_DEFAULT}},
        {"id": "text", "type": "input", "data": {"label": "Text"}},
        {"id": "log", "type": "test-log", "data": SECRET_DATA},
        last,
        {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
        {"id": "echo", "type": "output", "data": {"outputLabel": "Echo"}},
    ]
    connections = [
        {"source": "pin", "target": "log"},
        {"source": "log", "target": last["id"]},
        {"source": last["id"], "target": "out"},
        {"source": "text", "target": "echo"},
    ]
    return {"nodes": nodes, "connections": connections}


LEAKY_FAILURE = _workflow(
    {
        "id": "fail",
        "type": "test-fail",
        "data": {"message": f"upstream 401: key {WORKFLOW_KEY} / Bearer {WORKFLOW_BEARER} / {SERVER_KEY} rejected for"},
    }
)
LEAKY_SUCCESS = _workflow({"id": "pass", "type": "test-emit", "data": {"value": f"the key was {PROVIDER_KEY}"}})


def _assert_clean(where: str, content: str) -> None:
    for secret in PLANTED:
        assert secret not in content, f"{secret} leaked in {where}"


@pytest.mark.parametrize(
    ("workflow", "status"), [(LEAKY_FAILURE, 422), (LEAKY_SUCCESS, 200)], ids=["fails", "succeeds"]
)
async def test_planted_secrets_appear_nowhere(
    database_url: str, tmp_path: Path, capfd: pytest.CaptureFixture[str], workflow: dict[str, Any], status: int
) -> None:
    app = app_with_test_nodes(database_url, tmp_path / "data", OPENAI_API_KEY=SERVER_KEY, LOG_LEVEL="info")
    responses: list[httpx2.Response] = []
    async with serve_in_process(app) as base_url, httpx2.AsyncClient(base_url=base_url) as http:
        deployed = await http.post("/api/deploy", json={"name": "Leaky", "workflow": workflow})
        assert deployed.status_code == 201, deployed.text
        clara_key = deployed.json()["deployment"]["apiKey"]
        executed = await http.post(
            "/api/workflows/leaky/execute",
            json={"pin": PIN, "text": f"my pin is {PIN}"},
            headers=bearer(clara_key),
        )
        assert executed.status_code == status, executed.text
        for path in (
            "/api/workflows/leaky/executions",
            "/api/workflows/leaky",
            "/api/workflows/leaky/schema",
            "/api/workflows/leaky/docs",
            "/api/deployments",
            "/health",
            "/api/info",
        ):
            responses.append(await http.get(path, headers=bearer(clara_key) if "executions" in path else {}))
    responses.append(executed)
    responses.append(deployed)

    for response in responses:
        assert response.status_code < 500
        _assert_clean(f"{response.request.method} {response.request.url.path}", response.text)
    [row] = responses[0].json()["executions"]
    assert row["inputs"] == {"pin": REDACTED, "text": f"my pin is {REDACTED}"}
    assert REDACTED in json.dumps(row)
    assert REDACTED in executed.text
    assert PIN_DEFAULT not in json.dumps(responses[1].json())

    engine = create_engine(sync_database_url(database_url))
    with engine.connect() as conn:
        stored = [dict(found._mapping) for found in conn.execute(text("SELECT * FROM executions"))]
    engine.dispose()
    assert len(stored) == 1
    _assert_clean("the executions table", repr(stored))
    assert clara_key not in repr(stored)

    logs = capfd.readouterr().err
    assert "test_node_saw" in logs
    assert REDACTED in logs
    _assert_clean("the logs", logs)
    assert clara_key not in logs


async def test_health_and_errors_leak_no_configuration(tmp_path: Path) -> None:
    """A database that cannot be reached: /health says so without naming it; errors carry no SQL or host."""
    database_url = "postgresql://clara:db-planted-password-777@db-host-planted.invalid:5999/clara_db_planted"
    app = app_with_test_nodes(
        database_url, tmp_path / "data", OPENAI_API_KEY=SERVER_KEY, CLARA_ADMIN_KEY="admin-planted-888888"
    )
    async with app.router.lifespan_context(app):
        transport = httpx2.ASGITransport(app=app, client=("127.0.0.1", 5000))
        async with httpx2.AsyncClient(transport=transport, base_url="http://localhost") as http:
            health = await http.get("/health")
            listing = await http.get("/api/deployments", headers=bearer("admin-planted-888888"))
            execute = await http.post("/api/workflows/any/execute", json={}, headers=bearer("clara_sk_" + "A" * 49))
    assert health.status_code == 503
    assert listing.status_code == 503
    assert listing.json()["code"] == "database_unavailable"
    assert execute.status_code in (401, 503)
    for response in (health, listing, execute):
        for leak in ("db-planted-password-777", "db-host-planted", "clara_db_planted", "5999", "SELECT", SERVER_KEY):
            assert leak not in response.text, f"{leak} in {response.request.url.path}: {response.text}"
        assert "admin-planted-888888" not in response.text
        assert "Traceback" not in response.text
