"""Sign-in sessions of the Deployment Manager: a signed token in a cookie, with idle and absolute expiry.

The token carries when the session began, when it was last used and its CSRF token, signed with
HMAC-SHA256 under a key derived from the server secret and the admin key: changing either ends every
session at once. Nothing is stored on the server, so every replica accepts a session any other issued.
A request refreshes the last-used time (the browser gets the token again), so a session ends
`idle_seconds` after its last request, and in any case `max_seconds` after sign-in.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import secrets
from dataclasses import dataclass, replace

_PURPOSE = b"clara-manager-session\x00"
REFRESH_SECONDS = 60
"""A token younger than this is not issued again: most requests send no new cookie."""


@dataclass(frozen=True, slots=True)
class Session:
    started: int
    """Unix seconds of sign-in."""
    seen: int
    """Unix seconds of the last request the token was refreshed on."""
    csrf: str
    """The token each change must carry (form field or header), bound to this session."""


class SessionCodec:
    def __init__(self, server_secret: bytes, admin_key: str, *, idle_seconds: int, max_seconds: int) -> None:
        self._key = hmac.new(server_secret, _PURPOSE + admin_key.encode(), hashlib.sha256).digest()
        self.idle_seconds = idle_seconds
        self.max_seconds = max_seconds

    def start(self, now: int) -> Session:
        return Session(started=now, seen=now, csrf=secrets.token_urlsafe(24))

    def encode(self, session: Session) -> str:
        payload = _b64(json.dumps([session.started, session.seen, session.csrf], separators=(",", ":")).encode())
        return f"{payload}.{_b64(self._sign(payload))}"

    def decode(self, token: str | None, now: int) -> Session | None:
        """The session `token` carries, if its signature holds and it has not expired."""
        if not token or token.count(".") != 1:
            return None
        payload, signature = token.split(".")
        try:
            if not hmac.compare_digest(_unb64(signature), self._sign(payload)):
                return None
            started, seen, csrf = json.loads(_unb64(payload))
        except (binascii.Error, ValueError, TypeError):
            return None
        session = Session(int(started), int(seen), str(csrf))
        if now - session.seen > self.idle_seconds or now - session.started > self.max_seconds:
            return None
        return session

    def refreshed(self, session: Session, now: int) -> Session | None:
        """The session with its last use moved to `now`, or None when the browser's copy is recent enough."""
        return replace(session, seen=now) if now - session.seen >= REFRESH_SECONDS else None

    def _sign(self, payload: str) -> bytes:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).digest()


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
