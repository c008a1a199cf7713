"""Authorisation of management calls: the admin (key or local client) or, for one deployment's own
delete and regenerate-key, that deployment's API key, as in the original server."""

from __future__ import annotations

import uuid

from clara_runner.errors import AccessDenied
from clara_runner.security.admin import AdminPolicy
from clara_runner.security.api_keys import PREFIX
from clara_runner.service.auth import KeyAuthenticator, Principal, bearer_token


class ManagementAccess:
    def __init__(self, admin: AdminPolicy, keys: KeyAuthenticator) -> None:
        self.admin = admin
        self._keys = keys

    def require_admin(self, authorization: str | None, client_host: str | None) -> None:
        self.admin.require(bearer_token(authorization), client_host)

    async def require_owner(
        self, deployment_id: uuid.UUID, authorization: str | None, client_host: str | None, action: str
    ) -> Principal | None:
        """The deployment's key holder (returned) or the admin (None); 403 for another deployment's key."""
        token = bearer_token(authorization)
        if token is not None and token.startswith(PREFIX):
            principal = await self._keys.authenticate(authorization)
            if principal.deployment.id != deployment_id:
                raise AccessDenied(f"You do not have permission to {action} this workflow")
            return principal
        self.admin.require(token, client_host)
        return None
