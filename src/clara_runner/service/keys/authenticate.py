"""Who is calling: deployment API keys, checked against their stored HMAC, cached briefly.

A key is cached for `KEY_CACHE_SECONDS` (5 s by default), so the hot path does no database read (and
when the entry expires, concurrent requests with the key share one read). A revoked key or a deleted
deployment stops working on every replica within that time (at once on the replica that revoked it). A
key's expiry, and the end of the overlap a regenerated key was given, are judged at every request
against the cached times, so they take effect to the second everywhere. A revoked or expired key is
refused with its own code (`api_key_revoked`, `api_key_expired`), an unknown one with `invalid_api_key`.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass
from datetime import datetime

from clara_runner.clock import utcnow
from clara_runner.errors import ApiKeyExpired, ApiKeyRevoked, InvalidApiKey, MissingAuthorization
from clara_runner.security import api_keys
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord, KeyRecord

_MAX_CACHED = 10_000


@dataclass(frozen=True, slots=True)
class _Candidate:
    """A stored key with this lookup id, as cached: its hash, who holds it, and when it stops working."""

    key_hash: str
    principal: Principal
    revoked_at: datetime | None
    expires_at: datetime | None

    def check_in_force(self, now: datetime) -> None:
        if self.revoked_at is not None and self.revoked_at <= now:
            raise ApiKeyRevoked()
        if self.expires_at is not None and self.expires_at <= now:
            raise ApiKeyExpired()


@dataclass(slots=True)
class Principal:
    """A caller holding a valid key of `deployment`."""

    key_id: uuid.UUID
    deployment: DeploymentRecord
    quota_bucket: str
    """The rate-limit count the key draws from: its deployment and its key's quota."""
    quota_id: uuid.UUID | None = None
    """The key's quota (`api_keys.quota_id`), shared with the keys it was regenerated from."""

    @classmethod
    def of(cls, key: KeyRecord, deployment: DeploymentRecord) -> Principal:
        return cls(key.id, deployment, f"{deployment.id}:{key.quota_id}", key.quota_id)


def bearer_token(authorization: str | None) -> str | None:
    """The token of `Authorization: Bearer <token>`; a bare token is accepted as the original did."""
    if authorization is None:
        return None
    value = authorization.strip()
    scheme, _, token = value.partition(" ")
    if scheme.lower() == "bearer":
        value = token.strip()
    return value or None


class KeyAuthenticator:
    def __init__(self, database: Database, secret: ServerSecret, ttl_seconds: float) -> None:
        self._database = database
        self._secret = secret
        self._ttl = ttl_seconds
        self._cache: dict[str, tuple[float, list[_Candidate]]] = {}
        """Lookup id -> (expiry, candidates): principals are built once per cache entry."""
        self._reading: dict[str, asyncio.Future[list[_Candidate]]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise MissingAuthorization()
        lookup_id = api_keys.lookup_id(token)
        computed = api_keys.key_hash(self._secret.value or await self._secret.load(), token)
        for candidate in await self._candidates(lookup_id):
            if api_keys.hashes_match(candidate.key_hash, computed):
                if candidate.revoked_at is not None or candidate.expires_at is not None:
                    candidate.check_in_force(utcnow())
                return candidate.principal
        raise InvalidApiKey()

    async def _candidates(self, lookup_id: str) -> list[_Candidate]:
        now = time.monotonic()
        cached = self._cache.get(lookup_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        reading = self._reading.get(lookup_id)
        if reading is None:
            reading = self._reading[lookup_id] = asyncio.ensure_future(self._read(lookup_id))
            reading.add_done_callback(lambda _: self._reading.pop(lookup_id, None))
        return await asyncio.shield(reading)

    async def _read(self, lookup_id: str) -> list[_Candidate]:
        """One read per key however many requests with it arrive while it runs (the cache just expired)."""
        now = time.monotonic()
        async with self._database.read() as conn:
            found = await key_queries.keys_by_lookup(conn, lookup_id)
        candidates = [
            _Candidate(key.key_hash, Principal.of(key, deployment), key.revoked_at, key.expires_at)
            for key, deployment in found
        ]
        if candidates and self._ttl > 0:
            if len(self._cache) >= _MAX_CACHED:
                self._cache.pop(next(iter(self._cache)))
            self._cache[lookup_id] = (now + self._ttl, candidates)
        return candidates

    def forget(self, deployment_id: uuid.UUID) -> None:
        """Drop cached keys of a deployment whose keys or state just changed in this process."""
        stale = [
            lookup
            for lookup, (_, candidates) in self._cache.items()
            if any(candidate.principal.deployment.id == deployment_id for candidate in candidates)
        ]
        for lookup in stale:
            del self._cache[lookup]
