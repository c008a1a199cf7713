"""Standard Webhooks signatures (https://www.standardwebhooks.com): the secrets and the headers.

Every delivery carries `webhook-id` (the delivery's id, the same on every retry, so a receiver can drop
duplicates), `webhook-timestamp` (Unix seconds of this attempt: receivers refuse old ones, which stops
replays) and `webhook-signature`: `v1,` and the base64 HMAC-SHA256, under the secret's key, of
`{id}.{timestamp}.{body}`. Signing is the `standardwebhooks` package's own, so what a receiver verifies
with that package is exactly what was computed here.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import uuid
from datetime import datetime
from math import floor

from standardwebhooks import Webhook

SECRET_PREFIX = "whsec_"  # noqa: S105 - the scheme's prefix, not a secret
SECRET_BYTES = 32
"""Key size of a new secret (the scheme asks for 24 to 64 bytes)."""


def new_secret() -> str:
    return SECRET_PREFIX + base64.b64encode(secrets.token_bytes(SECRET_BYTES)).decode()


def callback_secret(server_secret: bytes, deployment_id: uuid.UUID) -> str:
    """The secret that signs the deliveries to a deployment's `callbackUrl`s, derived from the server's
    secret so nothing more is stored: the same on every replica, readable by the deployment's key holder
    (who chose the URLs), different for every deployment."""
    key = hmac.new(server_secret, b"webhook-callback:" + deployment_id.bytes, hashlib.sha256).digest()
    return SECRET_PREFIX + base64.b64encode(key).decode()


def signed_headers(secret: str, message_id: str, timestamp: datetime, body: bytes) -> dict[str, str]:
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(floor(timestamp.timestamp())),
        "webhook-signature": Webhook(secret).sign(message_id, timestamp, body),
    }
