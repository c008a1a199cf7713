from __future__ import annotations

import math
import re

import pytest

from clara_runner.errors import InvalidApiKeyFormat
from clara_runner.security import api_keys


def test_keys_carry_at_least_190_bits_and_a_checksum() -> None:
    issued = api_keys.generate()
    assert re.fullmatch(r"clara_sk_[0-9A-Za-z]{49}", issued.plaintext)
    body_bits = 43 * math.log2(62)
    assert body_bits >= 190
    assert api_keys.lookup_id(issued.plaintext) == issued.lookup_id
    assert issued.display_prefix == issued.plaintext[:17]


def test_keys_are_unique() -> None:
    assert len({api_keys.generate().plaintext for _ in range(1000)}) == 1000


def test_a_mistyped_key_is_rejected_without_a_lookup() -> None:
    key = api_keys.generate().plaintext
    flipped = key[:20] + ("A" if key[20] != "A" else "B") + key[21:]
    for bad in (flipped, key[:-1], key + "x", key.replace("clara_sk_", "clara_pk_"), "clara_sk_" + "-" * 49):
        with pytest.raises(InvalidApiKeyFormat):
            api_keys.lookup_id(bad)


def test_only_an_hmac_under_the_server_secret_is_comparable() -> None:
    key = api_keys.generate().plaintext
    stored = api_keys.key_hash(b"secret-one", key)
    assert api_keys.hashes_match(stored, api_keys.key_hash(b"secret-one", key))
    assert not api_keys.hashes_match(stored, api_keys.key_hash(b"secret-two", key))
    assert key not in stored
