"""Manager session tokens and lifetimes: random tokens kept only as hashes, an end moved on by use (at
most once a minute) and never past the session's lifetime, an admin-key fingerprint per server secret."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from clara_runner.security.sessions import (
    REFRESH_SECONDS,
    SessionLifetime,
    admin_fingerprint,
    new_token,
    token_hash,
)

START = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)
LIFETIME = SessionLifetime(idle_seconds=600, max_seconds=3600)


def test_tokens_are_random_and_kept_only_as_their_hash() -> None:
    first, second = new_token(), new_token()
    assert first != second
    assert len(first) >= 43
    assert token_hash(first) == token_hash(first) != token_hash(second)
    assert first not in token_hash(first)


def test_the_admin_fingerprint_changes_with_the_key_and_the_secret() -> None:
    fingerprint = admin_fingerprint(b"secret", "admin")
    assert fingerprint == admin_fingerprint(b"secret", "admin")
    assert fingerprint != admin_fingerprint(b"secret", "rotated")
    assert fingerprint != admin_fingerprint(b"other", "admin")
    assert "admin" not in fingerprint


def test_a_session_ends_when_idle_and_after_its_lifetime() -> None:
    end = LIFETIME.end(START, START)
    assert end == START + timedelta(seconds=600)
    assert not LIFETIME.is_over(START, end, end - timedelta(seconds=1))
    assert LIFETIME.is_over(START, end, end)
    late = START + timedelta(seconds=3500)
    assert LIFETIME.end(START, late) == START + timedelta(seconds=3600), "never past the lifetime"
    assert LIFETIME.is_over(START, START + timedelta(days=1), START + timedelta(seconds=3600))


def test_use_moves_the_end_on_at_most_once_a_minute() -> None:
    end = LIFETIME.end(START, START)
    assert LIFETIME.extension(START, end, START + timedelta(seconds=REFRESH_SECONDS - 1)) is None
    moved = LIFETIME.extension(START, end, START + timedelta(seconds=REFRESH_SECONDS))
    assert moved == end + timedelta(seconds=REFRESH_SECONDS)
    capped = START + timedelta(seconds=3600)
    assert LIFETIME.extension(START, capped, START + timedelta(seconds=3590)) is None
