"""The shapes of the server's JSON answers, as typed dictionaries: what the client returns is the JSON the
server sent, typed for editors and type checkers. Times are ISO 8601 text, as sent."""

from __future__ import annotations

from typing import Any, Literal, NotRequired, TypedDict

ExecutionStatus = Literal["queued", "running", "success", "error", "timeout", "cancelled", "interrupted"]


class Pagination(TypedDict):
    limit: int
    offset: int
    hasMore: bool


class PublicSchema(TypedDict):
    input: dict[str, Any]
    output: dict[str, Any]
    metadata: dict[str, Any]
    options: dict[str, Any]


class Deployment(TypedDict):
    id: str
    name: str
    slug: str
    description: str | None
    endpoint: str
    docs: str
    version: int
    executionCount: int
    outputSchemaMismatches: int
    lastExecuted: str | None
    createdAt: str
    isActive: bool
    rateLimit: dict[str, Any] | None
    maxConcurrency: int | None
    allowCallbackUrl: bool


class SummaryDurations(TypedDict):
    p50: int | None
    p95: int | None


RunSummary = TypedDict(
    "RunSummary",
    {
        "from": str,
        "to": str,
        "runs": int,
        "successRate": float | None,
        "durationMs": SummaryDurations,
        "lastRunAt": str | None,
    },
)
"""A deployment's runs over the last 24 hours, as the list shows them."""


class ListedDeployment(Deployment):
    keyPrefixes: list[str]
    stats: RunSummary


class DeploymentPage(TypedDict):
    success: Literal[True]
    deployments: list[ListedDeployment]
    pagination: Pagination


class WorkflowDetails(Deployment):
    schema: dict[str, Any]
    snippets: dict[str, str]
    updatedAt: str


class DeployedWorkflow(TypedDict):
    id: str
    name: str
    slug: str
    description: str | None
    endpoint: str
    apiKey: str
    """Shown only in this answer: keep it."""
    schema: PublicSchema
    docs: str
    version: int
    warnings: list[str]
    createdAt: str


class WorkflowRef(TypedDict):
    id: str
    slug: str


class DeleteResult(TypedDict):
    success: Literal[True]
    message: str
    workflow: WorkflowRef


class RegeneratedKey(WorkflowRef):
    apiKey: str
    previousKeysValidUntil: str | None


class TokenCounts(TypedDict):
    promptTokens: int
    completionTokens: int
    totalTokens: int


class ExecutionResult(TypedDict):
    success: Literal[True]
    outputs: dict[str, Any]
    metadata: dict[str, Any]


class RunAccepted(TypedDict):
    success: Literal[True]
    executionId: str
    status: Literal["running"]
    version: int
    statusUrl: str
    eventsUrl: str
    cancelUrl: str
    timestamp: str


class Execution(TypedDict):
    id: str
    status: ExecutionStatus
    version: int
    inputs: Any
    outputs: Any
    error: str | None
    errorCode: str | None
    duration: str | None
    durationMs: int | None
    nodesExecuted: int
    usage: NotRequired[TokenCounts | None]
    trace: Any
    createdAt: str
    finishedAt: str | None


class ExecutionDetail(Execution):
    workflowId: str
    eventsUrl: str


class ExecutionPage(TypedDict):
    success: Literal[True]
    executions: list[Execution]
    pagination: Pagination


class RunEvent(TypedDict):
    """One Server-Sent Event of a run: `run.started`, `node.started`, `node.finished`, `llm.token`, ...,
    and last `run.finished` (data: the result body) or `run.failed` (data: the error body)."""

    id: str | None
    event: str
    data: Any


class Durations(SummaryDurations):
    p99: int | None


class RunStats(TypedDict):
    runs: int
    byStatus: dict[ExecutionStatus, int]
    successRate: float | None
    outputSchemaMismatches: int
    durationMs: Durations
    tokens: TokenCounts | None


class StatsBucket(RunStats):
    start: str


WorkflowStats = TypedDict(
    "WorkflowStats",
    {
        "success": Literal[True],
        "workflow": WorkflowRef,
        "from": str,
        "to": str,
        "bucket": Literal["hour", "day"],
        "totals": RunStats,
        "buckets": list[StatsBucket],
    },
)


class ApiKey(TypedDict):
    id: str
    name: str
    prefix: str
    status: Literal["active", "revoked", "expired"]
    createdAt: str
    lastUsedAt: str | None
    expiresAt: str | None
    revokedAt: str | None


class ApiKeyPage(TypedDict):
    success: Literal[True]
    keys: list[ApiKey]
    pagination: Pagination


class NewApiKey(TypedDict):
    id: str
    name: str
    prefix: str
    apiKey: str
    """Shown only in this answer: keep it."""
    createdAt: str
    expiresAt: str | None
