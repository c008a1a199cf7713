from __future__ import annotations

import pytest

from clara_runner.errors import AdminKeyRequired
from clara_runner.security.admin import AdminPolicy, is_loopback


@pytest.mark.parametrize(
    ("host", "loopback"),
    [
        ("127.0.0.1", True),
        ("127.8.9.10", True),
        ("::1", True),
        ("localhost", True),
        ("10.0.0.1", False),
        ("203.0.113.7", False),
        (None, False),
        ("", False),
        ("testclient", False),
    ],
)
def test_loopback_detection(host: str | None, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_without_an_admin_key_only_local_clients_manage() -> None:
    policy = AdminPolicy("")
    policy.require(None, "127.0.0.1")
    with pytest.raises(AdminKeyRequired, match="CLARA_ADMIN_KEY"):
        policy.require(None, "203.0.113.7")


def test_with_an_admin_key_everyone_needs_it() -> None:
    policy = AdminPolicy("s3cret-admin")
    policy.require("s3cret-admin", "203.0.113.7")
    for token, host in ((None, "127.0.0.1"), ("wrong", "127.0.0.1"), ("s3cret-admin2", "10.1.1.1")):
        with pytest.raises(AdminKeyRequired):
            policy.require(token, host)
