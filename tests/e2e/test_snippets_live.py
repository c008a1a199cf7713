"""The code snippets of the details response, run as printed (key filled in) against the real server:
sync, stream (the events printed, `run.finished` last with the outputs) and async (202, then polled to
success), in curl, Python and JavaScript."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx2
import pytest

from clara_runner.contract.snippets import API_KEY_PLACEHOLDER, SNIPPETS
from tests.support import BUILTIN_TYPES_FLOW, LiveServer

EXPECTED_OUTPUTS = {"echo": "example text", "number": 42, "settings": {"key": "value"}}


@pytest.fixture(scope="module")
def snippets(module_live_server: LiveServer) -> dict[str, str]:
    """The snippets of one deployment, shared by the module's tests: each runs its own execution of it."""
    base_url = module_live_server.base_url
    deployed = httpx2.post(
        f"{base_url}/api/deploy", json={"name": "Snippet Check", "workflow": BUILTIN_TYPES_FLOW}, timeout=10
    )
    assert deployed.status_code == 201, deployed.text
    key = deployed.json()["deployment"]["apiKey"]
    details = httpx2.get(f"{base_url}/api/workflows/snippet-check", timeout=10).json()
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


LANGUAGES = ("curl", "python", "javascript")


def run_as_printed(key: str, source: str, tmp_path: Path) -> str:
    """What the snippet prints, run as a user would: bash, the Python of these tests, or Node.js."""
    lang = next(snippet.lang for snippet in SNIPPETS if snippet.key == key)
    if lang == "Shell":
        command = ["bash", "-c", source]
    elif lang == "Python":
        (tmp_path / "call.py").write_text(source)
        command = [sys.executable, str(tmp_path / "call.py")]
    else:
        (tmp_path / "call.mjs").write_text(source)
        command = ["node", str(tmp_path / "call.mjs")]
    return subprocess.run(command, capture_output=True, text=True, timeout=60, check=True).stdout


def _printed_events(key: str, printed: str) -> list[tuple[str, Any]]:
    """(event, data) as the snippet printed them: raw SSE from curl, `<status>` then `<event> <data>` lines else."""
    if key == "curlStream":
        blocks = [block for block in printed.replace("\r\n", "\n").split("\n\n") if block.strip()]
        fields = [
            dict(line.split(": ", 1) for line in block.split("\n") if not line.startswith(":")) for block in blocks
        ]
        return [(field["event"], json.loads(field["data"])) for field in fields]
    status, *lines = printed.strip().split("\n")
    assert status == "200", printed
    return [(name, json.loads(data)) for name, data in (line.split(" ", 1) for line in lines)]


@pytest.mark.parametrize("language", LANGUAGES)
def test_stream_snippet_prints_the_events_and_the_outputs_last(
    language: str, snippets: dict[str, str], tmp_path: Path
) -> None:
    key = f"{language}Stream"
    events = _printed_events(key, run_as_printed(key, snippets[key], tmp_path))
    names = [name for name, _ in events]
    assert names[0] == "run.started"
    assert "node.finished" in names
    assert names[-1] == "run.finished"
    assert events[-1][1]["outputs"] == EXPECTED_OUTPUTS
    assert events[-1][1]["metadata"]["executionId"] == events[0][1]["executionId"]


def _printed_async(language: str, printed: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """(the 202 body, the last state polled), as the snippet printed them."""
    if language == "curl":
        accepted, final = printed.strip().split("\n")
        return json.loads(accepted), json.loads(final)
    status, body = printed.strip().split("\n", 1)
    assert status == "202", printed
    final = ast.literal_eval(body) if language == "python" else json.loads(body)
    return {"status": "running"}, final


@pytest.mark.parametrize("language", LANGUAGES)
def test_async_snippet_is_accepted_then_polls_to_success(
    language: str, snippets: dict[str, str], tmp_path: Path
) -> None:
    key = f"{language}Async"
    accepted, final = _printed_async(language, run_as_printed(key, snippets[key], tmp_path))
    assert accepted["status"] == "running"
    assert final["execution"]["status"] == "success"
    assert final["execution"]["outputs"] == EXPECTED_OUTPUTS
