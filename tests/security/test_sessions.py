"""Manager session tokens: signed, expiring when idle and after their lifetime, bound to the secrets."""

from __future__ import annotations

from clara_runner.security.sessions import REFRESH_SECONDS, SessionCodec

NOW = 1_800_000_000


def codec(secret: bytes = b"server-secret", admin_key: str = "admin") -> SessionCodec:
    return SessionCodec(secret, admin_key, idle_seconds=600, max_seconds=3600)


def test_a_token_carries_its_session_back() -> None:
    session = codec().start(NOW)
    assert codec().decode(codec().encode(session), NOW + 10) == session
    assert len(session.csrf) >= 32


def test_each_session_has_its_own_csrf_token() -> None:
    assert codec().start(NOW).csrf != codec().start(NOW).csrf


def test_an_altered_or_foreign_token_is_nothing() -> None:
    token = codec().encode(codec().start(NOW))
    payload, signature = token.split(".")
    for bad in (
        None,
        "",
        "x",
        payload,
        f"{payload}.",
        f"{payload}x.{signature}",
        f"{payload}.{signature[:-2]}AA",
        "a.b.c",
    ):
        assert codec().decode(bad, NOW) is None
    assert codec(secret=b"other").decode(token, NOW) is None
    assert codec(admin_key="rotated").decode(token, NOW) is None, "a new admin key ends every session"


def test_a_session_expires_when_idle_and_after_its_lifetime() -> None:
    sessions = codec()
    session = sessions.start(NOW)
    token = sessions.encode(session)
    assert sessions.decode(token, NOW + 600) == session
    assert sessions.decode(token, NOW + 601) is None
    kept_alive = sessions.encode(session.__class__(session.started, NOW + 3500, session.csrf))
    assert sessions.decode(kept_alive, NOW + 3600) is not None
    assert sessions.decode(kept_alive, NOW + 3601) is None


def test_a_session_is_refreshed_only_once_a_while() -> None:
    sessions = codec()
    session = sessions.start(NOW)
    assert sessions.refreshed(session, NOW + REFRESH_SECONDS - 1) is None
    refreshed = sessions.refreshed(session, NOW + REFRESH_SECONDS)
    assert refreshed is not None
    assert (refreshed.started, refreshed.seen, refreshed.csrf) == (NOW, NOW + REFRESH_SECONDS, session.csrf)
