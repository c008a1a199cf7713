"""Response shapes of the management API, for its OpenAPI document (`/api/openapi.json`).

The routes build plain dicts (`presenters.py`); these models only describe them, through each
route's `responses=`, so documenting costs nothing at request time. The fuzz tests check every real
response against these schemas, which keeps the two in step.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal
from uuid import UUID

from fastapi import Path, Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from clara_runner.contract.envelopes import metadata_schema
from clara_runner.service.deployments.slugs import MAX_SLUG_LENGTH
from clara_runner.service.execution.history import EXECUTION_STATUSES
from clara_runner.service.pages import MAX_LIMIT

SlugPath = Annotated[
    str,
    Path(
        description="The deployment's slug",
        json_schema_extra={"pattern": "^[a-z0-9-]+$", "maxLength": MAX_SLUG_LENGTH},
    ),
]
"""A `{slug}` path parameter, documented with the form the server checks (`checked_slug`)."""

# The query parameters below arrive as text and are parsed by the service (`PageRequest`, the history's
# status check), so a bad value is a 400 with the Error body and the original server's sentence, not
# FastAPI's 422. `WithJsonSchema` publishes what the server accepts, so generated clients type them.
_LIMIT = WithJsonSchema({"type": "integer", "minimum": 1, "maximum": MAX_LIMIT})
PageLimit = Annotated[
    str | None, _LIMIT, Query(description=f"Page size, an integer from 1 to {MAX_LIMIT} (default 50)")
]
DeploymentPageLimit = Annotated[
    str | None, _LIMIT, Query(description=f"Page size, an integer from 1 to {MAX_LIMIT} (default 100)")
]
PageOffset = Annotated[
    str | None,
    WithJsonSchema({"type": "integer", "minimum": 0}),
    Query(description="Items to skip, an integer from 0 (default 0)"),
]
ExecutionStatusFilter = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "enum": list(EXECUTION_STATUSES)}),
    Query(description="Only executions with this status"),
]

ERROR_REF = {"$ref": "#/components/schemas/Error"}

_ERROR_TEXT: dict[int, str] = {
    400: "The request is not valid (bad parameter, malformed JSON, or validation problems, all listed)",
    401: "Credentials are missing or not valid",
    403: "The credentials are valid but do not cover this deployment",
    404: "No live deployment answers to this slug or id",
    409: "The request conflicts with the deployment's state (an idempotency key reused or still running, "
    "no earlier version to roll back to)",
    413: "The request body is larger than MAX_INPUT_SIZE",
    422: "A node of the workflow failed",
    429: "Too many requests; retry after Retry-After seconds",
    500: "The deployed workflow no longer compiles on this server, or an unexpected error",
    502: "The workflow's outputs are larger than MAX_OUTPUT_SIZE; they were not returned",
    503: "The database is unreachable or the server is at capacity; retry later",
    504: "The workflow ran past MAX_EXECUTION_TIME and was cancelled",
}


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """`responses=` entries for error statuses, each with the shared Error schema."""
    return {
        status: {"description": _ERROR_TEXT[status], "content": {"application/json": {"schema": ERROR_REF}}}
        for status in statuses
    }


HOST_REFUSED: dict[int | str, dict[str, Any]] = {
    400: {
        "description": "The Host header names a host outside ALLOWED_HOSTS (`host_not_allowed`); every path answers so",
        "content": {"application/json": {"schema": ERROR_REF}},
    }
}
"""The one error of routes that take no input: the `Host` check refuses a request before any route sees it."""

ADMIN: dict[str, Any] = {"security": [{"adminKey": []}]}
"""Management: the admin key (or, with no CLARA_ADMIN_KEY set, a client on the server's machine)."""
DEPLOYMENT_KEY: dict[str, Any] = {"security": [{"apiKey": []}]}
KEY_OR_ADMIN: dict[str, Any] = {"security": [{"apiKey": []}, {"adminKey": []}]}
PUBLIC: dict[str, Any] = {"security": []}


def ok(model: type[BaseModel], description: str, status: int = 200) -> dict[int | str, dict[str, Any]]:
    return {status: {"model": model, "description": description}}


class _Shape(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class Pagination(_Shape):
    limit: int = Field(ge=1, le=1000)
    offset: int = Field(ge=0)
    hasMore: bool = Field(description="True when at least one more item exists after this page")


class ContractOptions(_Shape):
    allowUnknownFields: bool = Field(description="Unknown request fields are ignored instead of rejected")


class PublicSchema(_Shape):
    input: dict[str, Any] = Field(description="JSON Schema (2020-12) of the execute request body")
    output: dict[str, Any] = Field(description="JSON Schema (2020-12) of `outputs` in the execute response")
    metadata: dict[str, Any] = Field(description="nodeCount, connectionCount, hasCustomNodes")
    options: ContractOptions


class DetailsSchema(PublicSchema):
    openapi: dict[str, Any] = Field(description="The workflow's OpenAPI 3.1 document (as GET .../schema)")


class DeploymentSummary(_Shape):
    id: UUID
    name: str
    slug: str
    description: str | None
    endpoint: str = Field(description="URL of the execute endpoint")
    docs: str = Field(description="URL of the Swagger UI page")
    version: int = Field(ge=1, description="The current version")
    executionCount: int = Field(ge=0)
    lastExecuted: datetime | None
    createdAt: datetime
    isActive: bool


class Snippets(_Shape):
    """The keys of `contract.snippets.SNIPPETS`: sync, then stream and async, each in three languages."""

    curl: str
    python: str
    javascript: str
    curlStream: str = Field(description="Stream the run's events (Accept: text/event-stream)")
    pythonStream: str
    javascriptStream: str
    curlAsync: str = Field(description="Start the run (Prefer: respond-async), then poll its statusUrl")
    pythonAsync: str
    javascriptAsync: str


class WorkflowDetails(DeploymentSummary):
    contract_schema: DetailsSchema = Field(alias="schema")
    snippets: Snippets = Field(description="Code calling the endpoint with the example input; replace YOUR_API_KEY")
    updatedAt: datetime


class WorkflowDetailsResponse(_Shape):
    success: Literal[True]
    workflow: WorkflowDetails


class NewDeployment(_Shape):
    id: UUID
    name: str
    slug: str
    description: str | None
    endpoint: str
    apiKey: str = Field(description="The API key, shown only this once", pattern="^clara_sk_")
    contract_schema: PublicSchema = Field(alias="schema")
    docs: str
    version: int = Field(ge=1)
    warnings: list[str] = Field(
        description=(
            "What to check: field names changed to keep them unique, inputs connected to nothing, and a slug"
            " other than the one the name gives when that one was taken"
        )
    )
    createdAt: datetime


class DeployResponse(_Shape):
    success: Literal[True]
    deployment: NewDeployment
    message: str


class SummaryDurations(_Shape):
    p50: int | None = Field(description="Median duration (ms) of the finished runs; null without one")
    p95: int | None


class RunSummary(_Shape):
    from_: datetime = Field(alias="from", description="Start of the period: 24 hours before `to`")
    to: datetime
    runs: int = Field(ge=0, description="Runs started in the period, whatever their status")
    successRate: float | None = Field(ge=0, le=1, description="Successful runs among the finished ones; null if none")
    durationMs: SummaryDurations
    lastRunAt: datetime | None = Field(description="When the deployment's last run finished, whenever that was")


class ListedDeployment(DeploymentSummary):
    keyPrefixes: list[str] = Field(description="The first characters of each key that works now, oldest first")
    stats: RunSummary = Field(description="The deployment's runs over the last 24 hours")


class DeploymentList(_Shape):
    success: Literal[True]
    deployments: list[ListedDeployment]
    pagination: Pagination


class Durations(SummaryDurations):
    p99: int | None


class StatusCounts(_Shape):
    queued: int = Field(ge=0)
    running: int = Field(ge=0)
    success: int = Field(ge=0)
    error: int = Field(ge=0)
    timeout: int = Field(ge=0)
    cancelled: int = Field(ge=0)
    interrupted: int = Field(ge=0)


class RunStats(_Shape):
    runs: int = Field(ge=0, description="Runs started in the period, whatever their status")
    byStatus: StatusCounts = Field(description="Runs per status; every status is listed")
    successRate: float | None = Field(ge=0, le=1, description="Successful runs among the finished ones; null if none")
    outputSchemaMismatches: int = Field(ge=0, description="Runs whose outputs did not match the output schema")
    durationMs: Durations = Field(description="Nearest-rank percentiles of the finished runs' durations")
    tokens: TokenCounts | None = Field(
        description="LLM tokens summed over the runs whose nodes reported usage; null when none did"
    )


class StatsBucket(RunStats):
    start: datetime = Field(description="Start of the hour or day (UTC)")


class StatsResponse(_Shape):
    success: Literal[True]
    workflow: WorkflowRef
    from_: datetime = Field(alias="from")
    to: datetime
    bucket: Literal["hour", "day"]
    totals: RunStats = Field(description="The whole range")
    buckets: list[StatsBucket] = Field(description="Every hour or day of the range, oldest first, empty ones too")


class ApiKeyEntry(_Shape):
    id: UUID
    name: str
    prefix: str = Field(description="The key's first characters, to tell keys apart (not secret)")
    status: Literal["active", "revoked", "expired"]
    createdAt: datetime
    lastUsedAt: datetime | None
    expiresAt: datetime | None
    revokedAt: datetime | None = Field(
        description="When the key stopped working, or (after a regenerate with an overlap) will stop"
    )


class ApiKeyList(_Shape):
    success: Literal[True]
    keys: list[ApiKeyEntry] = Field(description="Newest first, revoked and expired ones included")
    pagination: Pagination


class ApiKeyRevoked(_Shape):
    success: Literal[True]
    message: str
    key: ApiKeyEntry


class NewApiKey(_Shape):
    id: UUID
    name: str
    prefix: str
    apiKey: str = Field(description="The API key, shown only this once", pattern="^clara_sk_")
    createdAt: datetime
    expiresAt: datetime | None


class NewApiKeyResponse(_Shape):
    success: Literal[True]
    message: str
    key: NewApiKey


class WorkflowRef(_Shape):
    id: UUID
    slug: str


class DeleteResponse(_Shape):
    success: Literal[True]
    message: str
    workflow: WorkflowRef


class WorkflowWithKey(WorkflowRef):
    apiKey: str = Field(pattern="^clara_sk_")
    previousKeysValidUntil: datetime | None = Field(
        description="Until when the replaced keys keep working (`overlapSeconds`); null: they stopped at once"
    )


class RegenerateKeyResponse(_Shape):
    success: Literal[True]
    message: str
    workflow: WorkflowWithKey


class NewVersion(_Shape):
    id: UUID
    name: str
    slug: str
    description: str | None
    endpoint: str
    contract_schema: PublicSchema = Field(alias="schema")
    docs: str
    version: int = Field(ge=1, description="The new version, now current")
    previousVersion: int = Field(ge=1, description="The version that was current before")
    warnings: list[str]
    updatedAt: datetime


class NewVersionResponse(_Shape):
    success: Literal[True]
    deployment: NewVersion
    message: str


class VersionEntry(_Shape):
    version: int = Field(ge=1)
    createdAt: datetime
    isCurrent: bool
    nodeCount: int | None
    connectionCount: int | None
    inputs: list[str] = Field(description="The version's API input field names")
    outputs: list[str] = Field(description="The version's API output field names")


class VersionList(_Shape):
    success: Literal[True]
    currentVersion: int = Field(ge=1)
    versions: list[VersionEntry] = Field(description="Newest first")
    pagination: Pagination


class RolledBack(WorkflowRef):
    version: int = Field(ge=1, description="The version now current")
    previousVersion: int = Field(ge=1)
    updatedAt: datetime


class RollbackResponse(_Shape):
    success: Literal[True]
    message: str
    workflow: RolledBack


class TokenCounts(_Shape):
    promptTokens: int = Field(ge=0)
    completionTokens: int = Field(ge=0)
    totalTokens: int = Field(ge=0)


class ExecutionEntry(_Shape):
    id: UUID
    status: str
    version: int
    inputs: Any
    outputs: Any
    error: str | None
    errorCode: str | None
    duration: str | None
    durationMs: int | None
    nodesExecuted: int
    usage: TokenCounts | None = Field(
        description="Tokens the run's nodes reported spending, summed; null when none reported any"
    )
    cost: float | None = Field(description="What the run's LLM calls cost by the operator's price table (USAGE_PRICES)")
    trace: Any
    createdAt: datetime
    finishedAt: datetime | None


class ExecutionHistory(_Shape):
    success: Literal[True]
    executions: list[ExecutionEntry]
    pagination: Pagination


class ExecutionDetail(ExecutionEntry):
    workflowId: UUID
    eventsUrl: str = Field(description="The run's Server-Sent Events (runs started in stream, async or wait mode)")


class ExecutionResponse(_Shape):
    success: Literal[True]
    execution: ExecutionDetail


class RunAccepted(_Shape):
    """What a run that goes on without its caller answers (202): where to follow it."""

    success: Literal[True]
    executionId: UUID
    status: Literal["running", "queued"]
    version: int
    statusUrl: str = Field(description="GET it for the run's status and, once finished, its outputs (also `Location`)")
    eventsUrl: str = Field(description="GET it for the run's Server-Sent Events, from the start or after Last-Event-ID")
    cancelUrl: str = Field(description="POST to it to cancel the run")
    timestamp: datetime


class ExecutionResult(_Shape):
    success: Literal[True]
    outputs: dict[str, Any] = Field(description="One field per output node; the workflow's own document types them")
    metadata: dict[str, Any] = Field(json_schema_extra=metadata_schema())


class Health(_Shape):
    status: Literal["healthy", "unhealthy", "shutting_down"]
    service: str
    version: str
    timestamp: datetime
    uptime: str
    database: Literal["connected", "disconnected"]
    redis: Literal["connected", "disconnected"] | None = Field(None, description="Present when REDIS_URL is set")


class Info(_Shape):
    service: str
    version: str
    description: str
    features: list[str]
    endpoints: dict[str, str]
    documentation: str
    openapi: str


# --- Usage report ---


class KeyUsageEntry(_Shape):
    id: UUID
    name: str
    prefix: str = Field(description="The key's display prefix")
    revoked: bool
    executions: int = Field(ge=0)
    promptTokens: int = Field(ge=0)
    completionTokens: int = Field(ge=0)
    totalTokens: int = Field(ge=0)
    cost: float | None = Field(description="By the operator's price table (USAGE_PRICES); null when not priced")
    budgetRemaining: int | None = Field(
        description="Tokens the key may still spend this period under the deployment's usageBudget (shared with "
        "the keys it was regenerated from); null without a budget for this period"
    )


class UsageTotals(_Shape):
    executions: int = Field(ge=0)
    promptTokens: int = Field(ge=0)
    completionTokens: int = Field(ge=0)
    totalTokens: int = Field(ge=0)
    cost: float | None


class UsageResponse(_Shape):
    success: Literal[True]
    workflow: WorkflowRef
    period: Literal["day", "month"]
    since: datetime = Field(description="Start of the period (UTC)")
    until: datetime = Field(description="End of the period (UTC); a budget starts afresh then")
    usageBudget: dict[str, Any] | None = Field(description="The deployment's budget: {tokens, period}, or null")
    keys: list[KeyUsageEntry]
    total: UsageTotals


UsagePeriod = Annotated[
    str | None,
    WithJsonSchema({"type": "string", "enum": ["day", "month"]}),
    Query(description="The current UTC day or calendar month (default: the budget's period, else month)"),
]
