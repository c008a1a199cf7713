"""Who is calling: deployment API keys, checked against their stored HMAC, cached briefly.

A valid key is cached for `KEY_CACHE_SECONDS` (5 s by default), so the hot path does no database
read (and when the entry expires, concurrent requests with the key share one read), and a revoked or
deleted key stops working on every replica within that time (at once on the replica that revoked it).
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass

from clara_runner.clock import utcnow
from clara_runner.errors import InvalidApiKey, MissingAuthorization
from clara_runner.security import api_keys
from clara_runner.service.keys.secret import ServerSecret
from clara_runner.store import keys as key_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord, KeyRecord

_MAX_CACHED = 10_000


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
        self._cache: dict[str, tuple[float, list[tuple[str, Principal]]]] = {}
        """Lookup id -> (expiry, [(key hash, principal)]): principals are built once per cache entry."""
        self._reading: dict[str, asyncio.Future[list[tuple[str, Principal]]]] = {}

    async def authenticate(self, authorization: str | None) -> Principal:
        token = bearer_token(authorization)
        if token is None:
            raise MissingAuthorization()
        lookup_id = api_keys.lookup_id(token)
        computed = api_keys.key_hash(self._secret.value or await self._secret.load(), token)
        for key_hash, principal in await self._candidates(lookup_id):
            if api_keys.hashes_match(key_hash, computed):
                return principal
        raise InvalidApiKey()

    async def _candidates(self, lookup_id: str) -> list[tuple[str, Principal]]:
        now = time.monotonic()
        cached = self._cache.get(lookup_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        reading = self._reading.get(lookup_id)
        if reading is None:
            reading = self._reading[lookup_id] = asyncio.ensure_future(self._read(lookup_id))
            reading.add_done_callback(lambda _: self._reading.pop(lookup_id, None))
        return await asyncio.shield(reading)

    async def _read(self, lookup_id: str) -> list[tuple[str, Principal]]:
        """One read per key however many requests with it arrive while it runs (the cache just expired)."""
        now = time.monotonic()
        async with self._database.read() as conn:
            found = await key_queries.live_keys_by_lookup(conn, lookup_id, utcnow())
        candidates = [(key.key_hash, Principal.of(key, deployment)) for key, deployment in found]
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
            if any(principal.deployment.id == deployment_id for _, principal in candidates)
        ]
        for lookup in stale:
            del self._cache[lookup]
