"""The code snippets of the details response, run as printed (key filled in) against the real server."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.contract.snippets import API_KEY_PLACEHOLDER
from tests.support import BUILTIN_TYPES_FLOW, LiveServer

EXPECTED_OUTPUTS = {"echo": "example text", "number": 42, "settings": {"key": "value"}}


@pytest.fixture
def snippets(live_server: LiveServer) -> dict[str, str]:
    deployed = httpx2.post(
        f"{live_server.base_url}/api/deploy", json={"name": "Snippet Check", "workflow": BUILTIN_TYPES_FLOW}, timeout=10
    )
    assert deployed.status_code == 201, deployed.text
    key = deployed.json()["deployment"]["apiKey"]
    details = httpx2.get(f"{live_server.base_url}/api/workflows/snippet-check", timeout=10).json()
    found: dict[str, str] = details["workflow"]["snippets"]
    assert all(API_KEY_PLACEHOLDER in source for source in found.values())
    return {language: source.replace(API_KEY_PLACEHOLDER, key) for language, source in found.items()}


def _outputs(printed: str) -> dict[str, Any]:
    status, body = printed.strip().split("\n", 1)
    assert status == "200", printed
    return dict(json.loads(body)["outputs"]) if body.startswith("{") else {}


def test_curl_snippet_runs_as_printed(snippets: dict[str, str]) -> None:
    command = snippets["curl"].rstrip() + " -w '\\n%{http_code}'"
    result = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, check=True)
    body, status = result.stdout.rsplit("\n", 1)
    assert status == "200", result.stdout
    assert json.loads(body)["outputs"] == EXPECTED_OUTPUTS


def test_python_snippet_runs_as_printed(snippets: dict[str, str], tmp_path: Path) -> None:
    script = tmp_path / "call.py"
    script.write_text(snippets["python"])
    result = subprocess.run([sys.executable, str(script)], capture_output=True, text=True, timeout=60, check=True)
    status, printed = result.stdout.strip().split("\n", 1)
    assert status == "200", result.stdout
    assert ast.literal_eval(printed)["outputs"] == EXPECTED_OUTPUTS


def test_javascript_snippet_runs_as_printed(snippets: dict[str, str], tmp_path: Path) -> None:
    module = tmp_path / "call.mjs"
    module.write_text(snippets["javascript"])
    result = subprocess.run(["node", str(module)], capture_output=True, text=True, timeout=60, check=True)
    assert _outputs(result.stdout) == EXPECTED_OUTPUTS
