"""Vendored assets are the files their VENDORED.md records (package, version, sha256), served locally."""

from __future__ import annotations

import hashlib
import re
from pathlib import Path

import httpx2
import pytest

import clara_runner.web

STATIC = Path(clara_runner.web.__file__).parent / "static"
TEST_VENDOR = Path(__file__).parent / "vendor"
_ROW = re.compile(r"^\| `([^`]+)` \| ([0-9.]+) \| `([^`]+)` \|.*\| `([0-9a-f]{64})` \|$", re.MULTILINE)


@pytest.mark.parametrize("folder", [STATIC, TEST_VENDOR])
def test_every_vendored_file_matches_its_recorded_hash(folder: Path) -> None:
    rows = _ROW.findall((folder / "VENDORED.md").read_text())
    assert rows
    for package, version, file_name, digest in rows:
        assert hashlib.sha256((folder / file_name).read_bytes()).hexdigest() == digest, f"{package} {version}"


async def test_the_pages_assets_are_served_by_the_server(client: httpx2.AsyncClient) -> None:
    for name in ("htmx.min.js", "manager.js", "console.js", "theme.js", "manager.css"):
        response = await client.get(f"/manage/static/{name}")
        assert response.status_code == 200, name
        assert response.content == (STATIC / name).read_bytes()
