"""`MAX_OUTPUT_SIZE` (its own code, recorded) and input sanitising that leaves legitimate data alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.nodes import chain
from tests.serving import app_with_test_nodes
from tests.support import asgi_client, bearer, deploy

JSON_ECHO: dict[str, Any] = {
    "nodes": [
        {"id": "in", "type": "input", "data": {"label": "Data", "inputType": "json"}},
        {"id": "text", "type": "input", "data": {"label": "Text", "value": "-"}},
        {"id": "out", "type": "output", "data": {"outputLabel": "Data"}},
        {"id": "out2", "type": "output", "data": {"outputLabel": "Text"}},
    ],
    "connections": [{"source": "in", "target": "out"}, {"source": "text", "target": "out2"}],
}


@pytest.fixture
async def small_output_client(database_url: str, tmp_path: Path) -> AsyncIterator[httpx2.AsyncClient]:
    app = app_with_test_nodes(database_url, tmp_path / "data", MAX_OUTPUT_SIZE="1000")
    async with app.router.lifespan_context(app), asgi_client(app) as http:
        yield http


async def _repeat(http: httpx2.AsyncClient, text: str, times: int) -> httpx2.Response:
    deployment = await deploy(http, chain({"id": "big", "type": "test-emit", "data": {"repeat": times}}), name="Big")
    return await http.post("/api/workflows/big/execute", json={"text": text}, headers=bearer(deployment["apiKey"]))


async def test_outputs_over_the_limit_get_502_output_too_large_and_are_recorded(
    small_output_client: httpx2.AsyncClient,
) -> None:
    response = await _repeat(small_output_client, "x", 2000)
    assert response.status_code == 502
    body = response.json()
    assert body["code"] == "output_too_large"
    assert body["maxSize"] == 1000
    assert body["outputSize"] == len('{"result":""}') + 2000
    assert "MAX_OUTPUT_SIZE" in body["message"]
    [row] = (await small_output_client.get("/api/workflows/big/executions")).json()["executions"]
    assert row["status"] == "error"
    assert row["errorCode"] == "output_too_large"
    assert row["outputs"] is None
    assert row["id"] == body["executionId"]


async def test_the_output_limit_counts_bytes_not_characters(small_output_client: httpx2.AsyncClient) -> None:
    response = await _repeat(small_output_client, "é", 600)
    assert response.status_code == 502
    assert response.json()["outputSize"] == len('{"result":""}') + 1200


async def test_outputs_within_the_limit_are_returned(small_output_client: httpx2.AsyncClient) -> None:
    response = await _repeat(small_output_client, "x", 900)
    assert response.status_code == 200
    assert response.json()["outputs"] == {"result": "x" * 900}


LEGITIMATE = [
    "Grüße aus Köln — ünïcödé",
    "日本語のテキストと中文",
    "emoji 👩‍👩‍👧‍👦 🏳️‍🌈 🇫🇷 ✨",
    "مرحبا بالعالم (RTL) עברית",
    "combining: e\u0301 a\u0308 n\u0303",
    "zero width: a\u200bb\u200dc\ufeff",
    "   leading and trailing spaces   ",
    "\t\ttabs\n\nnewlines\r\n\r\n",
    " " * 500_000 + "x",
    ("word " + " " * 5) * 200_000,
]


@pytest.mark.parametrize("text", LEGITIMATE, ids=range(len(LEGITIMATE)))
async def test_legitimate_text_passes_through_unchanged(client: httpx2.AsyncClient, text: str) -> None:
    deployment = await deploy(client, JSON_ECHO, name="Echo")
    payload = {"data": {"text": text, "list": [text, {"nested": text}]}, "text": text}
    response = await client.post("/api/workflows/echo/execute", json=payload, headers=bearer(deployment["apiKey"]))
    assert response.status_code == 200
    assert response.json()["outputs"] == payload
    [row] = (await client.get("/api/workflows/echo/executions")).json()["executions"]
    assert row["inputs"] == payload
    assert row["outputs"] == payload


async def test_null_bytes_are_removed_from_every_nested_string_and_key(client: httpx2.AsyncClient) -> None:
    deployment = await deploy(client, JSON_ECHO, name="Echo")
    payload = {
        "data": {"ke\u0000y": ["a\u0000b", {"de\u0000ep": {"x": "\u0000tail\u0000"}}], "n": 0, "f": False},
        "text": "nul\u0000l",
    }
    response = await client.post("/api/workflows/echo/execute", json=payload, headers=bearer(deployment["apiKey"]))
    expected = {"data": {"key": ["ab", {"deep": {"x": "tail"}}], "n": 0, "f": False}, "text": "null"}
    assert response.status_code == 200
    assert response.json()["outputs"] == expected
    [row] = (await client.get("/api/workflows/echo/executions")).json()["executions"]
    assert row["inputs"] == expected


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"text": " " * 1_000_001 + "x"}, "text"),
        ({"data": {"deep": ["ok", "\n" * 1_200_000 + "y"]}, "text": "ok"}, "data/deep/1"),
    ],
)
async def test_excessive_whitespace_is_rejected_with_the_field(
    client: httpx2.AsyncClient, payload: dict[str, Any], field: str
) -> None:
    deployment = await deploy(client, JSON_ECHO, name="Echo")
    response = await client.post("/api/workflows/echo/execute", json=payload, headers=bearer(deployment["apiKey"]))
    assert response.status_code == 400
    assert response.json()["code"] == "input_validation_failed"
    assert f"Field '{field}' contains excessive whitespace" in response.json()["message"]


async def test_a_node_output_with_nul_characters_is_returned_and_recorded_without_them(
    client: httpx2.AsyncClient,
) -> None:
    """PostgreSQL refuses NUL in text and JSONB: the record drops it, the response keeps the real value.
    (json-parse turns the six characters `\\u0000` of a sanitised input into a real NUL.)"""
    deployment = await deploy(client, chain({"id": "parse", "type": "json-parse", "data": {}}), name="Parse")
    response = await client.post(
        "/api/workflows/parse/execute", json={"text": '{"v": "a\\u0000b"}'}, headers=bearer(deployment["apiKey"])
    )
    assert response.status_code == 200
    assert response.json()["outputs"] == {"result": {"v": "a\u0000b"}}
    [row] = (await client.get("/api/workflows/parse/executions")).json()["executions"]
    assert row["status"] == "success"
    assert row["outputs"] == {"result": {"v": "ab"}}


async def test_outputs_named_like_secrets_are_returned_when_their_values_are_not_secrets(
    client: httpx2.AsyncClient,
) -> None:
    workflow = {
        "nodes": [
            {"id": "in", "type": "input", "data": {"label": "Password"}},
            {"id": "session", "type": "input", "data": {"label": "Session", "value": "s-1"}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Echoed"}},
            {"id": "tok", "type": "output", "data": {"outputLabel": "Api Token"}},
        ],
        "connections": [{"source": "in", "target": "out"}, {"source": "session", "target": "tok"}],
    }
    deployment = await deploy(client, workflow, name="Tokens")
    response = await client.post(
        "/api/workflows/tokens/execute",
        json={"password": "hunter2-long-password", "session": "issued-session-token-77"},
        headers=bearer(deployment["apiKey"]),
    )
    assert response.json()["outputs"] == {"echoed": "[REDACTED]", "apiToken": "issued-session-token-77"}
    [row] = (await client.get("/api/workflows/tokens/executions")).json()["executions"]
    assert row["inputs"] == {"password": "[REDACTED]", "session": "issued-session-token-77"}
    assert row["outputs"] == {"echoed": "[REDACTED]", "apiToken": "issued-session-token-77"}
