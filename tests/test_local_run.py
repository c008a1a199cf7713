"""`clara-runner run FLOW.json`, as a person runs it: a child process, its output and its exit code."""

from __future__ import annotations

import base64
import json
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from tests.support import HELLO_WORLD, WORKFLOWS


def clara_run(cwd: Path, *args: str, **extra_env: str) -> subprocess.CompletedProcess[str]:
    env = {
        key: value for key, value in os.environ.items() if not key.startswith(("CUSTOM_NODE_", "MAX_EXEC", "OPENAI"))
    }
    env.update(extra_env)
    return subprocess.run(
        [sys.executable, "-m", "clara_runner", "run", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def write(tmp_path: Path, workflow: Any, name: str = "flow.json") -> str:
    path = tmp_path / name
    path.write_text(json.dumps(workflow))
    return str(path)


def table_rows(stderr: str) -> list[list[str]]:
    lines = [line.split() for line in stderr.splitlines()]
    header = lines.index(["node", "type", "status", "ms"])
    return [row[:3] for row in lines[header + 1 :]]


def test_a_flow_runs_and_prints_outputs_and_a_node_table(tmp_path: Path) -> None:
    result = clara_run(tmp_path, str(WORKFLOWS / "custom-node-export-example.json"), "--input", "textInput=abc def")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"result": "ABC DEF"}
    assert table_rows(result.stderr) == [
        ["input-1", "input", "success"],
        ["custom-1", "text-transformer", "success"],
        ["output-1", "output", "success"],
    ]
    assert "[custom-1] log: Operation: uppercase" in result.stderr


def test_inputs_are_read_by_their_field_type_and_files_become_base64(tmp_path: Path) -> None:
    workflow = {
        "nodes": [
            {"id": "count", "type": "input", "data": {"label": "Count", "inputType": "number"}},
            {"id": "doc", "type": "input", "data": {"label": "Doc", "inputType": "json"}},
            {"id": "photo", "type": "input", "data": {"label": "Photo"}},
            {"id": "gate", "type": "if-else", "data": {"expression": "input > 2"}},
            {"id": "big", "type": "output", "data": {"outputLabel": "Big"}},
            {"id": "small", "type": "output", "data": {"outputLabel": "Small"}},
            {"id": "echo", "type": "output", "data": {"outputLabel": "Echo"}},
            {"id": "file", "type": "output", "data": {"outputLabel": "File"}},
        ],
        "connections": [
            {"source": "count", "target": "gate"},
            {"source": "gate", "sourceHandle": "true", "target": "big"},
            {"source": "gate", "sourceHandle": "false", "target": "small"},
            {"source": "doc", "target": "echo"},
            {"source": "photo", "target": "file"},
        ],
    }
    (tmp_path / "photo.png").write_bytes(b"\x89PNG\r\n")
    result = clara_run(
        tmp_path,
        write(tmp_path, workflow),
        "--input",
        "count=3.5",
        "--input",
        'doc={"a": [1, 2]}',
        "--input-file",
        "photo=photo.png",
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "big": 3.5,
        "echo": {"a": [1, 2]},
        "file": base64.b64encode(b"\x89PNG\r\n").decode(),
    }
    assert ["small", "output", "skipped"] in table_rows(result.stderr)


def test_flow_problems_are_the_deploy_problems_one_per_line(tmp_path: Path) -> None:
    workflow = {
        "nodes": [
            {"id": "in", "type": "input", "data": {}},
            {"id": "mystery", "type": "teleport", "data": {}},
            {"id": "out", "type": "output", "data": {}},
        ],
        "connections": [{"source": "in", "target": "ghost"}, {"source": "in", "target": "out"}],
    }
    result = clara_run(tmp_path, write(tmp_path, workflow))
    assert result.returncode == 2
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        "node 'mystery': unknown node type 'teleport'; declare it in customNodes or use one of the built-in types "
        "(see docs/NODES.md)",
        "connection 0 (in.output -> ghost.input): target node 'ghost' does not exist",
    ]


def test_bad_inputs_are_reported_before_running(tmp_path: Path) -> None:
    flow = write(tmp_path, HELLO_WORLD)
    unknown = clara_run(tmp_path, flow, "--input", "nmae=Alice", "--input", "novalue")
    assert unknown.returncode == 2
    assert unknown.stderr.splitlines() == [
        "--input 'nmae': the flow has no input field 'nmae'; its inputs are: name",
        "--input 'novalue' must look like FIELD=VALUE",
    ]
    missing = clara_run(tmp_path, flow)
    assert (missing.returncode, missing.stderr.strip()) == (2, "Missing required field: name")
    not_json = clara_run(tmp_path, str(tmp_path / "nowhere.json"))
    assert not_json.returncode == 2
    assert "cannot read" in not_json.stderr


def test_a_failing_node_exits_1_naming_the_node_and_the_reason(tmp_path: Path) -> None:
    workflow = json.loads((WORKFLOWS / "custom-node-export-example.json").read_text())
    workflow["customNodes"][0]["executionCode"] = "async function execute() { throw new Error('quota exceeded') }"
    result = clara_run(tmp_path, write(tmp_path, workflow))
    assert result.returncode == 1
    assert result.stdout == ""
    assert table_rows(result.stderr)[:2] == [["input-1", "input", "success"], ["custom-1", "text-transformer", "error"]]
    assert result.stderr.splitlines()[-1] == (
        "error: Node 'Text Transformer' (text-transformer) failed: quota exceeded (node id: custom-1)"
    )


class _Hello(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"hello from this machine"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *_: Any) -> None:
        """Quiet: the test reads the run's output, not the server's."""


@pytest.fixture
def loopback_url() -> Iterator[str]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Hello)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hello"
    finally:
        server.shutdown()
        server.server_close()


def test_a_local_run_may_call_services_on_loopback(tmp_path: Path, loopback_url: str) -> None:
    workflow = {
        "nodes": [
            {"id": "call", "type": "api-request", "data": {"url": loopback_url, "retries": 0, "responseType": "text"}},
            {"id": "out", "type": "output", "data": {"outputLabel": "Result"}},
        ],
        "connections": [{"source": "call", "target": "out", "sourceHandle": "data", "targetHandle": "input"}],
    }
    result = clara_run(tmp_path, write(tmp_path, workflow))
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {"result": "hello from this machine"}


def test_a_local_run_says_which_llm_base_url_it_uses(tmp_path: Path) -> None:
    default = clara_run(tmp_path, write(tmp_path, HELLO_WORLD), "--input", "name=A")
    assert "LLM base URL: https://api.openai.com/v1 (the default;" in default.stderr
    chosen = clara_run(
        tmp_path, write(tmp_path, HELLO_WORLD), "--input", "name=A", OPENAI_API_BASE_URL="http://127.0.0.1:1234/v1"
    )
    assert "LLM base URL: http://127.0.0.1:1234/v1 (set by OPENAI_API_BASE_URL;" in chosen.stderr
