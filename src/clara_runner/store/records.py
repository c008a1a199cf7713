"""Plain records the store returns, so nothing above it handles SQLAlchemy rows."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from clara_runner.store.tables import UNFINISHED


@dataclass(frozen=True, slots=True)
class DeploymentRecord:
    id: uuid.UUID
    slug: str
    name: str
    description: str | None
    user_id: str | None
    state: str
    current_version: int
    execution_count: int
    last_executed_at: datetime | None
    created_at: datetime
    updated_at: datetime
    output_schema_mismatches: int = 0
    """Executions whose outputs did not match the published output schema (recorded, not failed)."""
    rate_limit: dict[str, Any] | None = None
    """This deployment's override of the server's rate limit (only the fields it sets), or None."""
    max_concurrency: int | None = None
    """How many executions of this deployment one process runs at once, or None for no own limit."""
    callbacks_allowed: bool = False
    """Execute requests may name a `callbackUrl` (`allowCallbackUrl`, set by the admin)."""
    usage_budget: dict[str, Any] | None = None
    """`{"tokens": N, "period": "day" | "month"}`: tokens each key may spend per period (`usageBudget`)."""
    retry_policy: str | None = None
    """Queue backend: what happens to a run whose worker died (`unstarted` when None, `always`, `never`)."""


@dataclass(frozen=True, slots=True)
class VersionRecord:
    deployment_id: uuid.UUID
    version: int
    workflow: Any
    contract: dict[str, Any]
    created_at: datetime


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: uuid.UUID
    deployment_id: uuid.UUID
    key_hash: str
    expires_at: datetime | None
    revoked_at: datetime | None
    quota_id: uuid.UUID
    """The rate-limit count the key draws from (see `tables.api_keys`)."""


@dataclass(frozen=True, slots=True)
class ExecutionRecord:
    id: uuid.UUID
    deployment_id: uuid.UUID
    version: int
    api_key_id: uuid.UUID | None
    status: str
    inputs: Any
    outputs: Any
    error_code: str | None
    error_message: str | None
    duration_ms: int | None
    nodes_executed: int
    trace: Any
    created_at: datetime
    finished_at: datetime | None
    prompt_tokens: int | None = None
    """Tokens the run's nodes reported spending, summed (None when no node reported any)."""
    completion_tokens: int | None = None
    cost_micros: int | None = None
    """What the run's LLM calls cost by the operator's price table, in millionths (None: not priced)."""


@dataclass(frozen=True, slots=True)
class VersionSummaryRecord:
    """A version as listed: its number, its stored contract and when it was deployed (not its workflow)."""

    version: int
    contract: dict[str, Any]
    created_at: datetime


@dataclass(slots=True)
class ExecutionWrite:
    """A snapshot of a run as the execution writer stores it, its JSON values already encoded. Built for
    every run (not frozen: a frozen dataclass of this size costs microseconds to build); not changed after.

    The first snapshot of a run inserts its row; later ones update it, until a final status (anything
    but `queued` and `running`) is stored, which nothing replaces. A final snapshot is counted on its
    deployment (executions, output mismatches) and its key (last use) in the same transaction.
    """

    id: uuid.UUID
    deployment_id: uuid.UUID
    version: int
    api_key_id: uuid.UUID | None
    status: str
    inputs_json: str | None
    outputs_json: str | None
    error_code: str | None
    error_message: str | None
    duration_ms: int | None
    nodes_executed: int
    trace_json: str | None
    created_at: datetime
    finished_at: datetime | None
    owner_id: uuid.UUID | None
    output_mismatch: bool = False
    """The outputs did not match the published output schema (counted on the deployment)."""
    first: bool = False
    """No earlier snapshot of this run was handed to the writer, so its row cannot exist yet."""
    prompt_tokens: int | None = None
    """Tokens the run's nodes reported spending so far, summed (None when no node reported any)."""
    completion_tokens: int | None = None
    cost_micros: int | None = None
    event_log: str | None = None
    """The run's whole event log (`execution_events` chunk format), when its final row is its first: a
    detached run that ended before it was acknowledged carries its log in its row (`tables.executions`)."""

    @property
    def final(self) -> bool:
        return self.status not in UNFINISHED
