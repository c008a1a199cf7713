"""The one error type of the client: every failure carries the server's stable `code`."""

from __future__ import annotations

from typing import Any

CONNECTION_FAILED = "connection_failed"
"""`code` when the server could not be reached or the connection broke (`status` None)."""
UNEXPECTED_RESPONSE = "unexpected_response"
"""`code` when an answer is not the server's JSON (a proxy's error page, a truncated body)."""


class ClaraApiError(Exception):
    """A request the server refused or could not answer.

    `code` is the server's machine-readable code (`invalid_api_key`, `validation_failed`, ...), or one of
    this module's own; `status` the HTTP status (None when no answer came); `body` the whole error body,
    where the details live (`validationErrors`, `retryAfter`, ...).
    """

    def __init__(
        self,
        code: str,
        message: str,
        *,
        status: int | None = None,
        body: dict[str, Any] | None = None,
        retry_after: float | None = None,
    ) -> None:
        super().__init__(f"{code}: {message}" if status is None else f"{status} {code}: {message}")
        self.code = code
        self.message = message
        self.status = status
        self.body: dict[str, Any] = body or {}
        self.retry_after = retry_after
        """Seconds to wait before retrying (a 429 or 503's `Retry-After`), when the server said."""

    @property
    def validation_errors(self) -> list[str]:
        """Every problem of a 400 `validation_failed` (or `input_validation_failed`), else empty."""
        problems = self.body.get("validationErrors")
        return [str(problem) for problem in problems] if isinstance(problems, list) else []
