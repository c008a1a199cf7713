"""Settings come from the environment and `.env` alike, and renamed ones keep their old names."""

from __future__ import annotations

from pathlib import Path

import pytest

from clara_runner.settings import DeprecatedSettingWarning, Settings


@pytest.fixture
def in_folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A working folder whose `.env` the settings read, with none of the tested names in the environment."""
    monkeypatch.chdir(tmp_path)
    for name in ("WEB_CONCURRENCY", "SHUTDOWN_GRACE_SECONDS", "DB_POOL_SIZE", "DB_POOL_OVERFLOW"):
        monkeypatch.delenv(name, raising=False)
    return tmp_path


def test_serve_settings_are_read_from_dot_env(in_folder: Path) -> None:
    (in_folder / ".env").write_text("WEB_CONCURRENCY=3\nSHUTDOWN_GRACE_SECONDS=7.5\nFORWARDED_ALLOW_IPS=10.0.0.1\n")
    settings = Settings()
    assert (settings.web_concurrency, settings.shutdown_grace_seconds) == (3, 7.5)
    assert settings.forwarded_allow_ips == "10.0.0.1"


def test_pool_settings_are_named_for_what_they_are(in_folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "4")
    (in_folder / ".env").write_text("DB_POOL_OVERFLOW=2\n")
    settings = Settings()
    assert (settings.db_pool_size, settings.db_pool_overflow) == (4, 2)


@pytest.mark.parametrize("from_dot_env", [False, True])
def test_old_pool_names_still_work_with_a_warning(
    in_folder: Path, monkeypatch: pytest.MonkeyPatch, from_dot_env: bool
) -> None:
    if from_dot_env:
        (in_folder / ".env").write_text("DB_POOL_MIN=4\nDB_POOL_MAX=2\n")
    else:
        monkeypatch.setenv("DB_POOL_MIN", "4")
        monkeypatch.setenv("DB_POOL_MAX", "2")
    with pytest.warns(DeprecatedSettingWarning) as caught:
        settings = Settings()
    assert (settings.db_pool_size, settings.db_pool_overflow) == (4, 2)
    assert sorted(str(warning.message) for warning in caught) == [
        "DB_POOL_MAX is deprecated: rename it to DB_POOL_OVERFLOW (same meaning)",
        "DB_POOL_MIN is deprecated: rename it to DB_POOL_SIZE (same meaning)",
    ]


def test_a_new_name_wins_over_its_old_name_and_the_old_one_is_reported(
    in_folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DB_POOL_SIZE", "5")
    monkeypatch.setenv("DB_POOL_MIN", "4")
    with pytest.warns(DeprecatedSettingWarning, match="DB_POOL_MIN is ignored: DB_POOL_SIZE, its new name, is set"):
        settings = Settings()
    assert settings.db_pool_size == 5
