"""The client generators and OpenAPI linters the contract tests run.

The npm tools are pinned in `tests/contract/tools` (package.json and its lockfile) and installed by
`scripts/test` (`npm ci`), openapi-python-client by the `[test]` extra; tests never install anything.
A missing tool skips its tests on a developer's machine, and fails them in CI (`CI` or
`REQUIRE_POSTGRES=1` set), where a skipped check would pass unnoticed.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

TOOLS = Path(__file__).parent / "contract" / "tools"
QUIET_NODE_ENV = {"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true", "NO_COLOR": "1"}
"""No usage reports or update checks: the tests reach no host but the servers they start."""


def _missing(message: str) -> None:
    if os.environ.get("CI") or os.environ.get("REQUIRE_POSTGRES") == "1":
        pytest.fail(message)
    pytest.skip(message)


def node_tool(name: str, package: Path = TOOLS) -> Path:
    """The path of an npm tool installed in `package` (by default `tests/contract/tools`)."""
    path = package / "node_modules" / ".bin" / name
    if not path.exists():
        _missing(f"{name} is not installed: run `npm ci --prefix {package}` (scripts/test does)")
    return path


def python_tool(name: str) -> Path:
    """The path of a command installed with the tests' Python (the `[test]` extra)."""
    path = Path(sys.executable).parent / name
    if not path.exists():
        _missing(f"{name} is not installed: run `.venv/bin/pip install -e '.[test]'` (scripts/test does)")
    return path


def run_tool(
    command: list[str | Path], cwd: Path | None = None, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a tool to completion, its output kept for the assertion that reads it. The tests' Python comes
    first on PATH: openapi-python-client formats what it generates with the ruff installed beside it."""
    path = f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"
    return subprocess.run(
        [str(part) for part in command],
        cwd=cwd,
        env={**os.environ, **QUIET_NODE_ENV, **(env or {}), "PATH": path},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def write_document(document: Any, path: Path) -> Path:
    path.write_text(json.dumps(document, indent=2))
    return path
