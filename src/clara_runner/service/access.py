"""Who may do what to a deployment: the one place that decides.

* The admin (the admin key; while none is set, a client on the server's own machine) may do anything.
* A deployment's API key opens that deployment, and only it: execute, history, versions, delete,
  regenerate-key.
* A valid key of another deployment gets 403 `access_denied` when the deployment it names exists, and
  404 `workflow_not_found` when nothing live answers to the slug or id (deployment details and docs are
  public, so whether a slug exists is no secret).
* No credentials, where a key or the admin would do: 401 `missing_authorization`; a key that is not
  valid: 401 `invalid_api_key`.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from clara_runner.errors import AccessDenied, MissingAuthorization, WorkflowNotFound
from clara_runner.security.admin import HOW_TO_SET, AdminPolicy
from clara_runner.security.api_keys import PREFIX
from clara_runner.service.keys.authenticate import KeyAuthenticator, Principal, bearer_token
from clara_runner.store import deployments as deployment_queries
from clara_runner.store.database import Database
from clara_runner.store.records import DeploymentRecord


@dataclass(frozen=True, slots=True)
class Caller:
    """Someone allowed in: a deployment's key holder, or the admin (`principal` None)."""

    principal: Principal | None

    @property
    def is_admin(self) -> bool:
        return self.principal is None


class Access:
    def __init__(self, admin: AdminPolicy, keys: KeyAuthenticator, database: Database) -> None:
        self.admin = admin
        self._keys = keys
        self._database = database

    def require_admin(self, authorization: str | None, client_host: str | None) -> None:
        self.admin.require(bearer_token(authorization), client_host)

    async def caller(self, authorization: str | None, client_host: str | None) -> Caller:
        """A key holder (a `clara_sk_` token, which must be valid) or the admin; 401 for anyone else."""
        token = bearer_token(authorization)
        if token is not None and token.startswith(PREFIX):
            return Caller(await self._keys.authenticate(authorization))
        if token is None and not self.admin.allows(None, client_host):
            advice = (
                "" if self.admin.configured else " Management from other machines needs an admin key: " + HOW_TO_SET
            )
            raise MissingAuthorization(
                "Send the deployment's API key (or the admin key) as 'Authorization: Bearer <key>'." + advice
            )
        self.admin.require(token, client_host)
        return Caller(None)

    async def deployment(
        self, caller: Caller, action: str, *, slug: str | None = None, deployment_id: uuid.UUID | None = None
    ) -> DeploymentRecord:
        """The live deployment named by `slug` or `deployment_id`, as stored now, if `caller` may `action` it."""
        async with self._database.read() as conn:
            found = await deployment_queries.find_live(conn, slug=slug, deployment_id=deployment_id)
        if found is None:
            raise WorkflowNotFound()
        if caller.principal is not None and caller.principal.deployment.id != found.id:
            raise AccessDenied(f"This API key belongs to another workflow; it may not {action} '{found.slug}'")
        return found

    async def key_holder(self, authorization: str | None, slug: str, action: str) -> Principal:
        """The holder of a key of `slug` (execute accepts nothing else). The deployment is the one cached
        with the key (`KEY_CACHE_SECONDS`), so the hot path reads nothing."""
        principal = await self._keys.authenticate(authorization)
        if principal.deployment.slug != slug:
            await self.deployment(Caller(principal), action, slug=slug)
        return principal
