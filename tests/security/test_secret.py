from __future__ import annotations

import stat
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from clara_runner.security.secret import SECRET_FILE, load_secret


def test_configured_secret_wins(tmp_path: Path) -> None:
    assert load_secret("from-env", tmp_path) == b"from-env"
    assert not (tmp_path / SECRET_FILE).exists()


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    first = load_secret("", tmp_path / "data")
    assert len(first) >= 48
    assert load_secret("", tmp_path / "data") == first
    mode = (tmp_path / "data" / SECRET_FILE).stat().st_mode
    assert stat.S_IMODE(mode) == 0o600


def test_concurrent_first_starts_agree_on_one_secret(tmp_path: Path) -> None:
    with ThreadPoolExecutor(8) as pool:
        secrets = set(pool.map(lambda _: load_secret("", tmp_path), range(16)))
    assert len(secrets) == 1
    assert [p.name for p in tmp_path.iterdir()] == [SECRET_FILE]
