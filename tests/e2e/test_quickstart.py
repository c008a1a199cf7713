"""The seed's quick start and "Testing the System", run verbatim against the real server over HTTP."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import httpx2
import pytest

from tests.support import LiveServer

SEED = Path(__file__).parent / "seed_quickstart.md"


def seed_blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", SEED.read_text(), flags=re.DOTALL)


def against(server: LiveServer, command: str) -> str:
    return command.replace("http://localhost:3000", server.base_url)


@pytest.fixture(scope="module")
def live_server(module_live_server: LiveServer) -> LiveServer:
    """One server for both walkthroughs: they deploy different workflows (Hello World, Test Workflow)."""
    return module_live_server


def run_shell(command: str, cwd: Path | None = None) -> str:
    completed = subprocess.run(["bash", "-c", command], capture_output=True, text=True, timeout=60, cwd=cwd, check=True)
    return completed.stdout


def test_quick_start_steps_2_to_4_verbatim(live_server: LiveServer) -> None:
    health_cmd, deploy_cmd, execute_cmd = seed_blocks("bash")[:3]
    health = json.loads(run_shell(against(live_server, health_cmd)))
    assert (health["status"], health["service"], health["database"]) == ("healthy", "Clara Agent Runner", "connected")
    deployed = json.loads(run_shell(against(live_server, deploy_cmd)))
    assert deployed["success"] is True
    key = deployed["deployment"]["apiKey"]
    assert deployed["deployment"]["slug"] == "hello-world"
    result = json.loads(run_shell(against(live_server, execute_cmd).replace("clara_sk_YOUR_API_KEY", key)))
    assert result["success"] is True
    assert result["outputs"] == {"greeting": "Alice"}
    assert re.fullmatch(r"\d+ms", result["metadata"]["duration"])
    assert result["metadata"]["executionId"]


def test_testing_the_system_verbatim(live_server: LiveServer, tmp_path: Path) -> None:
    """The seed's Node.js deployment script (node-fetch is shimmed to Node's own fetch; nothing is
    downloaded), then its execute curl and its docs page."""
    node_script, execute_cmd = seed_blocks("bash")[3:5]
    assert shutil.which("node"), "Node.js is needed for the seed's deployment script"
    shim = tmp_path / "node_modules" / "node-fetch"
    shim.mkdir(parents=True)
    (shim / "package.json").write_text('{"name": "node-fetch", "type": "module", "exports": "./index.js"}')
    (shim / "index.js").write_text("export default globalThis.fetch;\n")
    (tmp_path / "sdk").symlink_to(tmp_path)
    output = run_shell(against(live_server, node_script), cwd=tmp_path)
    assert "success: true" in output
    key = re.search(r"apiKey: '(clara_sk_\w+)'", output)
    assert key is not None, output
    result = json.loads(run_shell(against(live_server, execute_cmd).replace("clara_sk_...", key.group(1))))
    assert result["success"] is True
    assert result["outputs"] == {"result": "Hello World"}
    docs = httpx2.get(f"{live_server.base_url}/api/workflows/test-workflow/docs")
    assert docs.status_code == 200
    assert "Test Workflow - API Documentation" in docs.text
