"""The malformed corpus, deployed through the real server: each is refused with 400, a stable code and
a message that names the problem, and the server stays healthy with its memory in bounds.

The corpus is `tests/fixtures/malformed/*.json` (`{description, code, expect, body | raw}`); the cases
too large to keep as files (10,000 nodes, multi-megabyte strings, 20,000 connections) are built here.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx2
import pytest

from tests.support import FIXTURES, LiveServer

CORPUS = sorted((FIXTURES / "malformed").glob("*.json"))
_IN = {"id": "in", "type": "input", "data": {"label": "Text"}}
_OUT = {"id": "out", "type": "output", "data": {"outputLabel": "Result"}}


def _generated() -> dict[str, dict[str, Any]]:
    chain = [{"id": f"n{index}", "type": "static-text", "data": {"text": "x"}} for index in range(10_000)]
    links = [{"source": "in", "target": "out"} for _ in range(20_000)]
    return {
        "10000-nodes": {
            "code": "invalid_workflow",
            "expect": ["workflow has 10002 nodes", "at most 2000 (MAX_WORKFLOW_NODES)"],
            "body": {"name": "Huge", "workflow": {"nodes": [_IN, *chain, _OUT], "connections": []}},
        },
        "20000-connections": {
            "code": "invalid_workflow",
            "expect": ["workflow has 20000 connections", "MAX_WORKFLOW_CONNECTIONS"],
            "body": {"name": "Dense", "workflow": {"nodes": [_IN, _OUT], "connections": links}},
        },
        "multi-megabyte-string": {
            "code": "invalid_workflow",
            "expect": ["workflow.nodes[1].data.text is 3145728 characters long", "MAX_WORKFLOW_STRING"],
            "body": {
                "name": "Big text",
                "workflow": {
                    "nodes": [_IN, {"id": "big", "type": "static-text", "data": {"text": "é" * 3 * 1024 * 1024}}, _OUT],
                    "connections": [{"source": "in", "target": "out"}],
                },
            },
        },
        "multi-megabyte-name": {
            "code": "validation_failed",
            "expect": ["name must be 255 characters or less"],
            "body": {"name": "n" * 2 * 1024 * 1024, "workflow": {"nodes": [_IN, _OUT], "connections": []}},
        },
    }


def _cases() -> list[tuple[str, dict[str, Any]]]:
    files = [(path.stem, json.loads(path.read_text())) for path in CORPUS]
    return files + list(_generated().items())


def _resident_kib(server: LiveServer) -> int:
    status = Path(f"/proc/{server.process.pid}/status").read_text()
    return int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS:")))


def test_the_corpus_has_at_least_30_cases() -> None:
    assert len(_cases()) >= 30


def test_every_malformed_workflow_is_refused_precisely_and_the_server_stays_healthy(live_server: LiveServer) -> None:
    failures = []
    with httpx2.Client(base_url=live_server.base_url, timeout=60) as http:
        assert http.post("/api/deploy", json={"name": "Warm", "workflow": {"nodes": [_IN, _OUT], "connections": []}})
        before = _resident_kib(live_server)
        for name, case in _cases():
            if "raw" in case:
                response = http.post("/api/deploy", content=case["raw"], headers={"Content-Type": "application/json"})
            else:
                response = http.post("/api/deploy", json=case["body"])
            problem = _mismatch(response, case)
            if problem:
                failures.append(f"{name}: {problem}")
        assert http.get("/health").status_code == 200
        listed = http.get("/api/deployments").json()["deployments"]
        after = _resident_kib(live_server)
    assert failures == []
    assert [deployment["name"] for deployment in listed] == ["Warm"]
    assert after - before < 300 * 1024, f"resident memory grew by {(after - before) // 1024} MiB"


def _mismatch(response: httpx2.Response, case: dict[str, Any]) -> str | None:
    if response.status_code != 400:
        return f"status {response.status_code}: {response.text[:300]}"
    body = response.json()
    if body.get("code") != case["code"]:
        return f"code {body.get('code')}, expected {case['code']}: {body['message'][:300]}"
    said = " | ".join([body["message"], *body.get("validationErrors", [])])
    missing = [expected for expected in case["expect"] if expected not in said]
    if missing:
        return f"message lacks {missing}: {said[:500]}"
    if len(response.content) > 64 * 1024:
        return f"the error body is {len(response.content)} bytes"
    return None


@pytest.mark.parametrize("name", ["Ünïcödé Wörkflow ✨", "日本語のワークフロー", "🚀🚀🚀", "a\u200bb"])
def test_unicode_names_are_legitimate_and_get_a_usable_slug(module_live_server: LiveServer, name: str) -> None:
    """On one server for the four names (the corpus test above keeps a fresh one: it lists every deployment)."""
    response = httpx2.post(
        f"{module_live_server.base_url}/api/deploy",
        json={"name": name, "workflow": {"nodes": [_IN, _OUT], "connections": []}},
    )
    assert response.status_code == 201
    deployment = response.json()["deployment"]
    assert deployment["name"] == name
    assert deployment["slug"].replace("-", "").isalnum()
    assert deployment["slug"].isascii()
