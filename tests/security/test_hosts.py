"""ALLOWED_HOSTS as the settings read it: what an entry may be, and how names are compared."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from tests.support import make_settings


@pytest.mark.parametrize(
    "entry", ["http://api.example.com", "api.example.com:8443", "api.example.com/path", "*.example.com", "a b"]
)
def test_an_entry_that_is_not_a_host_name_stops_the_server_at_start(tmp_path: Path, entry: str) -> None:
    with pytest.raises(ValidationError, match=r"ALLOWED_HOSTS: .* is not a host name"):
        make_settings("sqlite://", tmp_path, ALLOWED_HOSTS=f"localhost, {entry}")


def test_names_are_compared_as_browsers_send_them(tmp_path: Path) -> None:
    hosts = make_settings("sqlite://", tmp_path, ALLOWED_HOSTS="Bücher.Example., ::1, [fd00::5], *").hosts()
    assert hosts.any_host
    assert hosts.names == {"xn--bcher-kva.example", "::1", "fd00::5"}
    assert hosts.is_own_origin("http://xn--bcher-kva.example:3000", "http", 3000)
    assert hosts.is_own_origin("http://[fd00::5]", "http", None)


def test_without_a_wildcard_only_the_listed_names_are_answered(tmp_path: Path) -> None:
    hosts = make_settings("sqlite://", tmp_path, ALLOWED_HOSTS="Bücher.Example, [fd00::5]").hosts()
    answered = [b"xn--bcher-kva.example", b"XN--BCHER-KVA.EXAMPLE.:80", b"[fd00::5]", b"[fd00::5]:3000"]
    refused = [b"localhost", b"fd00::5", b"[fd00::5]:", b"xn--bcher-kva.example:-1", b"xn--bcher-kva.example:x"]
    assert [hosts.allows(host) for host in answered] == [True] * len(answered)
    assert [hosts.allows(host) for host in refused] == [False] * len(refused)
