"""Cross-origin access for browsers, from `CORS_ORIGINS`: a comma-separated list of origins, or `*`.

Unset (the default) sends no CORS headers, so only same-origin pages can read responses: that is what
the original server did in practice (its default `*` never produced a header). `*` lets any page call
the API, without credentials (browsers refuse `*` with credentials, and API keys travel in the
`Authorization` header, not in cookies). Explicit origins are echoed back, with credentials allowed.
Preflight requests are answered by the middleware; the rate-limit, `Retry-After` and idempotency
headers are exposed to scripts.
"""

from __future__ import annotations

from typing import Any

from clara_runner.service.deployments.versions import VERSION_HEADER

ALLOWED_HEADERS = ("Authorization", "Content-Type", "Idempotency-Key", VERSION_HEADER)
EXPOSED_HEADERS = (
    "RateLimit-Limit",
    "RateLimit-Remaining",
    "RateLimit-Reset",
    "RateLimit-Policy",
    "Retry-After",
    "Idempotent-Replayed",
)


def cors_options(setting: str) -> dict[str, Any] | None:
    """Keyword arguments for Starlette's `CORSMiddleware`, or None when no origin is allowed."""
    origins = [origin.strip().rstrip("/") for origin in setting.split(",") if origin.strip()]
    if not origins:
        return None
    any_origin = "*" in origins
    return {
        "allow_origins": ["*"] if any_origin else origins,
        "allow_credentials": not any_origin,
        "allow_methods": ["GET", "POST", "PUT", "DELETE"],
        "allow_headers": list(ALLOWED_HEADERS),
        "expose_headers": list(EXPOSED_HEADERS),
        "max_age": 600,
    }
