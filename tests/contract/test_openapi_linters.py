"""Redocly (recommended rules) and Spectral (`spectral:oas`) report nothing, not even a warning, on a
deployment's OpenAPI document and on the management document, as the server serves them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from clara_runner.server.app import create_app
from tests.contract.support import EVERY_KIND_FLOW
from tests.contract_tools import TOOLS, node_tool, run_tool, write_document
from tests.support import HELLO_WORLD, asgi_client, deploy, make_settings

PUBLIC_URL = "https://workflows.clara.test"
"""A public BASE_URL, as production sets one (a document pointing at localhost is a lint warning)."""


@pytest.fixture
async def documents(database_url: str, tmp_path: Path) -> dict[str, Any]:
    """A deployment's document for a workflow with every kind of field, one for hello world (untyped
    output), and the management document."""
    app = create_app(make_settings(database_url, tmp_path / "data", BASE_URL=PUBLIC_URL))
    async with app.router.lifespan_context(app), asgi_client(app) as client:
        for name, flow in (("Every Kind", EVERY_KIND_FLOW), ("Hello World", HELLO_WORLD)):
            await deploy(client, flow, name=name)
        return {
            "every-kind": (await client.get("/api/workflows/every-kind/openapi.json")).json(),
            "hello-world": (await client.get("/api/workflows/hello-world/openapi.json")).json(),
            "management": (await client.get("/api/openapi.json")).json(),
        }


KINDS = ("every-kind", "hello-world", "management")


@pytest.mark.parametrize("kind", KINDS)
async def test_redocly_finds_no_problem(documents: dict[str, Any], kind: str, tmp_path: Path) -> None:
    path = write_document(documents[kind], tmp_path / f"{kind}.json")
    redocly = node_tool("redocly")
    linted = run_tool([redocly, "lint", "--config", TOOLS / "redocly.yaml", "--format", "json", path])
    report = json.loads(linted.stdout)
    problems = [(problem["ruleId"], problem["message"]) for problem in report["problems"]]
    assert report["totals"] == {"errors": 0, "warnings": 0, "ignored": 0}, problems


@pytest.mark.parametrize("kind", KINDS)
async def test_spectral_finds_no_problem(documents: dict[str, Any], kind: str, tmp_path: Path) -> None:
    path = write_document(documents[kind], tmp_path / f"{kind}.json")
    spectral = node_tool("spectral")
    report = tmp_path / "spectral.json"
    ruleset = TOOLS / "spectral.yaml"
    linted = run_tool(
        [
            spectral,
            "lint",
            "--ruleset",
            ruleset,
            "--format",
            "json",
            "--output",
            report,
            "--fail-severity",
            "hint",
            path,
        ]
    )
    assert json.loads(report.read_text()) == []
    assert linted.returncode == 0, linted.stdout + linted.stderr
