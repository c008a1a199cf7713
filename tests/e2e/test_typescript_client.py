"""The TypeScript client (`clients/typescript`) against a real server: built with its own pinned `tsc`
(strict), then its tests run with Node's built-in test runner, the server's address in `CLARA_BASE_URL`.

`scripts/test` installs the package's devDependencies with `npm ci` from its lockfile."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from tests.contract_tools import node_tool, run_tool
from tests.support import LiveServer

PACKAGE = Path(__file__).parents[2] / "clients" / "typescript"


def test_the_typescript_client_passes_its_tests_against_a_live_server(live_server: LiveServer) -> None:
    tsc = node_tool("tsc", PACKAGE)
    node = shutil.which("node")
    if node is None:
        pytest.skip("Node.js is not installed")
    built = run_tool([tsc, "-p", PACKAGE / "tsconfig.json"], cwd=PACKAGE)
    assert built.returncode == 0, built.stdout + built.stderr
    tested = run_tool(
        [node, "--test", "--test-reporter=spec", "test/"], cwd=PACKAGE, env={"CLARA_BASE_URL": live_server.base_url}
    )
    assert tested.returncode == 0, tested.stdout + tested.stderr
    assert "fail 0" in tested.stdout
