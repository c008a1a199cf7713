"""Who may manage deployments.

With `CLARA_ADMIN_KEY` set, the admin key (as a Bearer token) is required, from anywhere. Without
it, the server trusts only loopback clients for management: a fresh install works on the machine it
runs on and exposes nothing to the network until an admin key is configured.
"""

from __future__ import annotations

import hmac
import ipaddress

from clara_runner.errors import AdminKeyRequired

HOW_TO_SET = (
    "Set CLARA_ADMIN_KEY on the server (any long random string) and send it as 'Authorization: Bearer <admin key>'"
)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%", 1)[0]).is_loopback
    except ValueError:
        return host == "localhost"


class AdminPolicy:
    def __init__(self, admin_key: str) -> None:
        self._admin_key = admin_key.encode()

    @property
    def configured(self) -> bool:
        return bool(self._admin_key)

    def allows(self, token: str | None, client_host: str | None) -> bool:
        if self._admin_key:
            return token is not None and hmac.compare_digest(token.encode(), self._admin_key)
        return is_loopback(client_host)

    def require(self, token: str | None, client_host: str | None) -> None:
        if self.allows(token, client_host):
            return
        if self._admin_key:
            raise AdminKeyRequired("This endpoint needs the admin key: send 'Authorization: Bearer <CLARA_ADMIN_KEY>'")
        raise AdminKeyRequired(
            "Management endpoints answer only clients on this machine until an admin key is configured. " + HOW_TO_SET
        )
