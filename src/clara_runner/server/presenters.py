"""Service results as the JSON bodies of the original server's contract."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from clara_runner import jsonio
from clara_runner.clock import iso
from clara_runner.contract.schema import Contract
from clara_runner.service.deployments.deploy import Deployed
from clara_runner.service.deployments.versions import NewVersion, Rollback
from clara_runner.service.execution.history import EXECUTION_STATUSES
from clara_runner.service.execution.runs import ExecutionOutcome
from clara_runner.service.keys.issue import NewKey
from clara_runner.service.keys.manage import key_status
from clara_runner.service.pages import Page
from clara_runner.service.stats.report import DeploymentStats, DeploymentSummary, Usage
from clara_runner.store.keys import KeyListing
from clara_runner.store.records import DeploymentRecord, ExecutionRecord, VersionSummaryRecord
from clara_runner.store.run_queue import RETRY_UNSTARTED


class Links:
    """Absolute URLs of a deployment's endpoints under the server's public base URL."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def workflow(self, slug: str, suffix: str = "") -> str:
        return f"{self.base_url}/api/workflows/{slug}{suffix}"

    def endpoint(self, slug: str) -> str:
        return self.workflow(slug, "/execute")

    def docs(self, slug: str) -> str:
        return self.workflow(slug, "/docs")

    def execution(self, execution_id: uuid.UUID, suffix: str = "") -> str:
        return f"{self.base_url}/api/executions/{execution_id}{suffix}"


def _duration(milliseconds: int | None) -> str | None:
    return None if milliseconds is None else f"{milliseconds}ms"


def _deployed_contract(record: DeploymentRecord, contract: Contract, links: Links) -> dict[str, Any]:
    """What deploy and a new version both answer: where the API is and what its contract became."""
    return {
        "id": str(record.id),
        "name": record.name,
        "slug": record.slug,
        "description": record.description,
        "endpoint": links.endpoint(record.slug),
        "schema": contract.public_schema(),
        "docs": links.docs(record.slug),
        "version": record.current_version,
        **traffic_options(record),
        "warnings": list(contract.warnings),
    }


def traffic_options(record: DeploymentRecord) -> dict[str, Any]:
    """The deployment's own rate-limit override and concurrency cap (null: the server's settings apply), and
    whether its execute requests may name a `callbackUrl`."""
    return {
        "rateLimit": record.rate_limit,
        "maxConcurrency": record.max_concurrency,
        "allowCallbackUrl": record.callbacks_allowed,
        "usageBudget": record.usage_budget,
        "retryPolicy": record.retry_policy or RETRY_UNSTARTED,
    }


def deployed(result: Deployed, links: Links) -> dict[str, Any]:
    record = result.deployment
    return {
        "success": True,
        "deployment": {
            **_deployed_contract(record, result.contract, links),
            "warnings": list(result.warnings),
            "apiKey": result.api_key,
            "createdAt": iso(record.created_at),
        },
        "message": "Workflow deployed successfully. Save the API key - it will not be shown again!",
    }


def version_deployed(result: NewVersion, links: Links) -> dict[str, Any]:
    record = result.deployment
    return {
        "success": True,
        "deployment": {
            **_deployed_contract(record, result.contract, links),
            "previousVersion": result.previous_version,
            "updatedAt": iso(record.updated_at),
        },
        "message": f"Version {record.current_version} deployed and now current; the API keys are unchanged",
    }


def rolled_back(result: Rollback) -> dict[str, Any]:
    record = result.deployment
    return {
        "success": True,
        "message": f"Version {record.current_version} is now current (was version {result.previous_version})",
        "workflow": {
            "id": str(record.id),
            "slug": record.slug,
            "version": record.current_version,
            "previousVersion": result.previous_version,
            "updatedAt": iso(record.updated_at),
        },
    }


def version_entry(summary: VersionSummaryRecord, current_version: int) -> dict[str, Any]:
    contract = summary.contract
    metadata = contract.get("metadata", {})
    return {
        "version": summary.version,
        "createdAt": iso(summary.created_at),
        "isCurrent": summary.version == current_version,
        "nodeCount": metadata.get("nodeCount"),
        "connectionCount": metadata.get("connectionCount"),
        "inputs": [item["name"] for item in contract.get("inputs", [])],
        "outputs": [item["name"] for item in contract.get("outputs", [])],
    }


def deployment_summary(record: DeploymentRecord, links: Links) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "name": record.name,
        "slug": record.slug,
        "description": record.description,
        "endpoint": links.endpoint(record.slug),
        "docs": links.docs(record.slug),
        "version": record.current_version,
        **traffic_options(record),
        "executionCount": record.execution_count,
        "outputSchemaMismatches": record.output_schema_mismatches,
        "lastExecuted": iso(record.last_executed_at),
        "createdAt": iso(record.created_at),
        "isActive": record.state == "active",
    }


def listed_deployment(
    record: DeploymentRecord, summary: DeploymentSummary, key_prefixes: Sequence[str], links: Links
) -> dict[str, Any]:
    """A deployment in the list: its summary, its working keys' prefixes and its runs over the last 24 hours."""
    usage = summary.usage
    return {
        **deployment_summary(record, links),
        "keyPrefixes": list(key_prefixes),
        "stats": {
            "from": iso(summary.start),
            "to": iso(summary.end),
            "runs": usage.runs,
            "successRate": usage.success_rate,
            "durationMs": {"p50": usage.durations.p50, "p95": usage.durations.p95},
            "lastRunAt": iso(summary.last_run_at),
        },
    }


def _run_stats(stats: Usage) -> dict[str, Any]:
    return {
        "runs": stats.runs,
        "byStatus": {status: stats.by_status.get(status, 0) for status in EXECUTION_STATUSES},
        "successRate": stats.success_rate,
        "outputSchemaMismatches": stats.output_mismatches,
        "durationMs": {"p50": stats.durations.p50, "p95": stats.durations.p95, "p99": stats.durations.p99},
        "tokens": usage(stats.prompt_tokens, stats.completion_tokens),
    }


def deployment_stats(record: DeploymentRecord, stats: DeploymentStats) -> dict[str, Any]:
    window = stats.window
    return {
        "success": True,
        "workflow": {"id": str(record.id), "slug": record.slug},
        "from": iso(window.start),
        "to": iso(window.end),
        "bucket": window.bucket,
        "totals": _run_stats(stats.totals),
        "buckets": [{"start": iso(bucket.start), **_run_stats(bucket.usage)} for bucket in stats.buckets],
    }


def api_key(key: KeyListing, now: datetime) -> dict[str, Any]:
    return {
        "id": str(key.id),
        "name": key.name,
        "prefix": key.display_prefix,
        "status": key_status(key, now),
        "createdAt": iso(key.created_at),
        "lastUsedAt": iso(key.last_used_at),
        "expiresAt": iso(key.expires_at),
        "revokedAt": iso(key.revoked_at),
    }


def new_api_key(issued: NewKey) -> dict[str, Any]:
    key = issued.listing
    return {
        "success": True,
        "message": "API key created. Save it - it will not be shown again!",
        "key": {
            "id": str(key.id),
            "name": key.name,
            "prefix": key.display_prefix,
            "apiKey": issued.plaintext,
            "createdAt": iso(key.created_at),
            "expiresAt": iso(key.expires_at),
        },
    }


def pagination(page: Page[Any]) -> dict[str, Any]:
    return {"limit": page.request.limit, "offset": page.request.offset, "hasMore": page.has_more}


def execution_success(outcome: ExecutionOutcome) -> bytes:
    """`{"success": true, "outputs": ..., "metadata": ...}`, around the outputs as the run encoded them."""
    deployment = outcome.deployment
    metadata = {
        "duration": _duration(outcome.duration_ms),
        "durationMs": outcome.duration_ms,
        "nodesExecuted": outcome.nodes_executed,
        "timestamp": iso(outcome.finished_at),
        "executionId": str(outcome.execution_id),
        "version": outcome.version,
        "workflow": {"id": str(deployment.id), "name": deployment.name, "slug": deployment.slug},
    }
    return b'{"success":true,"outputs":' + outcome.outputs_json + b',"metadata":' + jsonio.dumps(metadata) + b"}"


def execution_entry(record: ExecutionRecord) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "status": record.status,
        "version": record.version,
        "inputs": record.inputs,
        "outputs": record.outputs,
        "error": record.error_message,
        "errorCode": record.error_code,
        "duration": _duration(record.duration_ms),
        "durationMs": record.duration_ms,
        "nodesExecuted": record.nodes_executed,
        "usage": usage(record.prompt_tokens, record.completion_tokens),
        "cost": cost(record.cost_micros),
        "trace": record.trace,
        "createdAt": iso(record.created_at),
        "finishedAt": iso(record.finished_at),
    }


def cost(micros: int | None) -> float | None:
    """A cost in millionths as the currency of the operator's price table (null: not priced)."""
    return None if micros is None else micros / 1_000_000


def usage(prompt_tokens: int | None, completion_tokens: int | None) -> dict[str, int] | None:
    """A run's token counts as responses say them; null when no node of the run reported any."""
    if prompt_tokens is None or completion_tokens is None:
        return None
    return {
        "promptTokens": prompt_tokens,
        "completionTokens": completion_tokens,
        "totalTokens": prompt_tokens + completion_tokens,
    }


def run_accepted(
    execution_id: uuid.UUID, version: int, links: Links, timestamp: str, status: str = "running"
) -> dict[str, Any]:
    """The 202 body of a run that goes on without its caller: where to watch it (`queued` while it waits
    for a worker of the queue backend)."""
    status_url = links.execution(execution_id)
    return {
        "success": True,
        "executionId": str(execution_id),
        "status": status,
        "version": version,
        "statusUrl": status_url,
        "eventsUrl": f"{status_url}/events",
        "cancelUrl": f"{status_url}/cancel",
        "timestamp": timestamp,
    }


def execution_detail(record: ExecutionRecord, links: Links) -> dict[str, Any]:
    return {
        "success": True,
        "execution": {
            **execution_entry(record),
            "workflowId": str(record.deployment_id),
            "eventsUrl": links.execution(record.id, "/events"),
        },
    }
