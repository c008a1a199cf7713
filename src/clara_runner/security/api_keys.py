"""Deployment API keys: `clara_sk_` + 43 base62 characters (256 random bits) + a 6-character checksum.

The checksum (CRC32 of the body) lets the server, and secret scanners, reject a mistyped or invented
key without a database lookup. Keys are stored only as HMAC-SHA256 under the server secret, so a
copy of the database alone cannot be used to test candidate keys. The first characters of the body
are a non-secret lookup id: the server finds the row by it, then compares hashes in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import zlib
from dataclasses import dataclass

from clara_runner.errors import InvalidApiKeyFormat

PREFIX = "clara_sk_"
_ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_BODY_LENGTH = 43
_CHECKSUM_LENGTH = 6
_LOOKUP_LENGTH = 12
KEY_LENGTH = len(PREFIX) + _BODY_LENGTH + _CHECKSUM_LENGTH
_FORM = re.compile(f"{PREFIX}[0-9A-Za-z]{{{_BODY_LENGTH + _CHECKSUM_LENGTH}}}")


def _base62(number: int, length: int) -> str:
    digits = []
    for _ in range(length):
        number, remainder = divmod(number, 62)
        digits.append(_ALPHABET[remainder])
    return "".join(reversed(digits))


def _checksum(body: str) -> str:
    return _base62(zlib.crc32(body.encode()), _CHECKSUM_LENGTH)


@dataclass(frozen=True, slots=True)
class IssuedKey:
    """A freshly generated key: `plaintext` is shown once, the rest is what the database keeps."""

    plaintext: str
    lookup_id: str
    display_prefix: str


_DISPLAY_LENGTH = 8


def generate() -> IssuedKey:
    body = _base62(secrets.randbits(256), _BODY_LENGTH)
    plaintext = PREFIX + body + _checksum(body)
    return IssuedKey(plaintext, body[:_LOOKUP_LENGTH], display_prefix(plaintext))


def display_prefix(key: str) -> str:
    """What identifies a key in lists without revealing it: `clara_sk_` and 8 characters."""
    return key[: len(PREFIX) + _DISPLAY_LENGTH]


def log_prefix(key: str) -> str:
    """The 8 characters after `clara_sk_` of the display prefix: how logs name a key (with `clara_sk_` in
    front, log redaction would take it for a key and hide it)."""
    return key[len(PREFIX) : len(PREFIX) + _DISPLAY_LENGTH]


def lookup_id(key: str) -> str:
    """The key's lookup id, after checking its form; raises `InvalidApiKeyFormat` for anything else."""
    if not key.startswith(PREFIX):
        raise InvalidApiKeyFormat("API key must start with clara_sk_")
    body, checksum = key[len(PREFIX) : -_CHECKSUM_LENGTH], key[-_CHECKSUM_LENGTH:]
    well_formed = _FORM.fullmatch(key) is not None and hmac.compare_digest(checksum, _checksum(body))
    if not well_formed:
        raise InvalidApiKeyFormat(
            "API key is malformed: copy the whole clara_sk_... key returned at deploy or regenerate"
        )
    return body[:_LOOKUP_LENGTH]


def key_hash(secret: bytes, key: str) -> str:
    return hmac.new(secret, key.encode(), hashlib.sha256).hexdigest()


def hashes_match(stored: str, computed: str) -> bool:
    return hmac.compare_digest(stored.encode(), computed.encode())
