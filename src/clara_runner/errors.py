"""Errors are values with codes.

Every failure a client can cause is one of these classes: a stable machine-readable `code`, an HTTP
`status`, the short `error` title the original server used, and a `message` that says what to fix.
They are raised anywhere (engine, services, security) and rendered into the response envelope in
exactly one place (`server/errors.py`). The engine's own errors live in `flow/errors.py` and are
translated at the service boundary.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar


class ClaraError(Exception):
    """Something went wrong inside the server."""

    code: ClassVar[str] = "internal_error"
    status: int = 500
    error: ClassVar[str] = "Internal server error"

    def __init__(
        self,
        message: str | None = None,
        *,
        details: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
        status: int | None = None,
    ) -> None:
        if status is not None:
            self.status = status
        self.message = message or (self.__doc__ or self.error).strip()
        self.details: dict[str, Any] = dict(details or {})
        self.headers: dict[str, str] = dict(headers or {})
        super().__init__(self.message)

    def envelope(self, timestamp: str) -> dict[str, Any]:
        """The response body: `{success: false, error, message, code, timestamp, ...details}`.

        The published Error schema (`contract/openapi.py`) describes exactly this shape.
        """
        return {
            "success": False,
            "error": self.error,
            "message": self.message,
            "code": self.code,
            "timestamp": timestamp,
            **self.details,
        }


class InvalidRequest(ClaraError):
    """The request is not valid."""

    code = "invalid_request"
    status = 400
    error = "Invalid request"


class ValidationFailed(InvalidRequest):
    """The request body has problems; every one is listed in `validationErrors`."""

    code = "validation_failed"
    error = "Validation failed"

    def __init__(self, problems: list[str], message: str | None = None, **extra: Any) -> None:
        summary = message or "; ".join(problems[:5]) + (" ..." if len(problems) > 5 else "")
        super().__init__(summary, details={"validationErrors": problems, **extra})


class InvalidWorkflow(ValidationFailed):
    """The workflow cannot be deployed: every problem is listed in `validationErrors`."""

    code = "invalid_workflow"
    error = "Invalid workflow"


class InputValidationFailed(ValidationFailed):
    """The execute body does not match the workflow's input schema."""

    code = "input_validation_failed"
    error = "Input validation failed"


class MalformedJSON(InvalidRequest):
    """The body is not valid JSON."""

    code = "malformed_json"
    error = "Malformed JSON"


class InvalidParameter(InvalidRequest):
    """A path or query parameter has the wrong form."""

    code = "invalid_parameter"
    error = "Invalid parameter"


class InvalidSlug(InvalidParameter):
    """Parameter 'slug' must contain only lowercase letters, numbers, and hyphens."""

    code = "invalid_slug"
    error = "Invalid slug format"


class InvalidId(InvalidParameter):
    """Parameter 'id' must be a valid UUID (the deployment id returned at deploy)."""

    code = "invalid_id"
    error = "Invalid UUID format"


class SlugTaken(InvalidRequest):
    """The requested slug belongs to another live deployment."""

    code = "slug_taken"
    error = "Slug already in use"


class HostNotAllowed(InvalidRequest):
    """The request's `Host` header names a host this server does not answer to (`ALLOWED_HOSTS`)."""

    code = "host_not_allowed"
    error = "Host not allowed"


class RequestHeadTimeout(ClaraError):
    """The connection did not send a complete request head in time (`REQUEST_HEADER_TIMEOUT_SECONDS`)."""

    code = "request_timeout"
    status = 408
    error = "Request Timeout"


class PayloadTooLarge(ClaraError):
    """The request body is larger than the server accepts."""

    code = "payload_too_large"
    status = 413
    error = "Request body too large"


class Unauthorized(ClaraError):
    """The request needs credentials it did not carry."""

    code = "unauthorized"
    status = 401
    error = "Unauthorized"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        kwargs.setdefault("headers", {"WWW-Authenticate": 'Bearer realm="clara"'})
        super().__init__(message, **kwargs)


class MissingAuthorization(Unauthorized):
    """Please provide an API key in the Authorization header: Bearer clara_sk_..."""

    code = "missing_authorization"
    error = "Missing Authorization header"


class InvalidApiKeyFormat(Unauthorized):
    """API key must start with clara_sk_ and be a key this server issued."""

    code = "invalid_api_key_format"
    error = "Invalid API key format"


class InvalidApiKey(Unauthorized):
    """The provided API key is not valid or the workflow is inactive."""

    code = "invalid_api_key"
    error = "Invalid API key"


class ApiKeyRevoked(Unauthorized):
    """This API key was revoked: use the key that replaced it, or ask the admin for a new one."""

    code = "api_key_revoked"
    error = "API key revoked"


class ApiKeyExpired(Unauthorized):
    """This API key has expired: ask the admin for a new one (POST /api/workflows/{slug}/keys)."""

    code = "api_key_expired"
    error = "API key expired"


class AdminKeyRequired(Unauthorized):
    """This endpoint manages deployments and needs the admin key."""

    code = "admin_key_required"
    error = "Admin key required"


class AccessDenied(ClaraError):
    """The credentials are valid but do not cover this resource."""

    code = "access_denied"
    status = 403
    error = "Access denied"


class ClientClosedRequest(ClaraError):
    """The client closed the connection before the request was answered."""

    code = "client_closed_request"
    status = 499
    error = "Client closed request"


class WorkflowNotFound(ClaraError):
    """No live deployment has this slug or id."""

    code = "workflow_not_found"
    status = 404
    error = "Workflow not found"


class KeyNotFound(ClaraError):
    """This deployment has no API key with this id: list them with GET /api/workflows/{slug}/keys."""

    code = "key_not_found"
    status = 404
    error = "API key not found"


class EndpointNotFound(ClaraError):
    """No endpoint answers at this path; see /api/info."""

    code = "endpoint_not_found"
    status = 404
    error = "Endpoint not found"


class MethodNotAllowed(ClaraError):
    """This path does not accept that HTTP method."""

    code = "method_not_allowed"
    status = 405
    error = "Method not allowed"


class WorkflowFailed(ClaraError):
    """A node of the workflow failed; `nodeId` names it."""

    code = "workflow_failed"
    status = 422
    error = "Workflow execution failed"


class ExecutionTimeout(ClaraError):
    """The workflow ran past its time limit and was cancelled."""

    code = "execution_timeout"
    status = 504
    error = "Workflow execution timeout"


class ServiceUnavailable(ClaraError):
    """The server cannot serve this request right now; retry later."""

    code = "service_unavailable"
    status = 503
    error = "Service unavailable"


class DatabaseUnavailable(ServiceUnavailable):
    """The database cannot be reached right now, so the request was not run; retry after `Retry-After` seconds."""

    code = "database_unavailable"

    RETRY_AFTER_SECONDS = 5

    def __init__(self, message: str | None = None) -> None:
        super().__init__(
            message or "The database is unreachable, so the request was not run; retry later",
            headers={"Retry-After": str(self.RETRY_AFTER_SECONDS)},
        )


class UnstorableValue(InvalidRequest):
    """A value in the request cannot be stored by the database (out of range, or text it refuses)."""

    code = "unstorable_value"
    error = "Value cannot be stored"


class NodeTimeout(ExecutionTimeout):
    """A node ran past its own `timeoutMs` and was cancelled; `nodeId` names it."""

    code = "node_timeout"
    error = "Node timeout"


class EgressDenied(WorkflowFailed):
    """A node tried to reach an address the server's egress policy forbids; `nodeId` names it."""

    code = "egress_blocked"
    error = "Egress blocked"


class ValueOverBudget(WorkflowFailed):
    """A node produced a value larger than `MAX_VALUE_SIZE`, or the run's values outgrew
    `MAX_RUN_VALUES_SIZE`; `nodeId` names the node. The run was stopped there."""

    code = "value_too_large"
    error = "Value too large"


class SandboxTimeout(WorkflowFailed):
    """A node's JavaScript ran past `CUSTOM_NODE_TIMEOUT_MS` and was stopped; `nodeId` names it.

    422 like any node failure, not 504: the script broke a rule the server sets for all user code (as
    an egress refusal does), and retrying it fails the same way. 504 stays for the deadlines of the run
    (`MAX_EXECUTION_TIME`) and of a node's own `timeoutMs`.
    """

    code = "sandbox_timeout"
    error = "Sandbox time limit exceeded"


class SandboxMemoryExceeded(WorkflowFailed):
    """A node's JavaScript used more than `CUSTOM_NODE_MEMORY_MB` and was stopped; `nodeId` names it."""

    code = "sandbox_memory_exceeded"
    error = "Sandbox memory limit exceeded"


class OutputTooLarge(ClaraError):
    """The workflow's outputs are larger than `MAX_OUTPUT_SIZE`; nothing was returned.

    502: the server ran the workflow but refuses to relay what it produced (as a gateway refuses an
    upstream answer it cannot pass on); the caller did nothing wrong with the request itself.
    """

    code = "output_too_large"
    status = 502
    error = "Output too large"
