"""The schema, in SQLAlchemy Core, identical on SQLite and PostgreSQL.

Alembic migrations (`store/migrations`) create exactly these tables; a test checks that they agree.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Dialect,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    TypeDecorator,
    Uuid,
    false,
    text,
)
from sqlalchemy.dialects.postgresql import JSONB

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Json = JSON().with_variant(JSONB(), "postgresql")

UNFINISHED = ("queued", "running")
"""Execution statuses that are not final: a row in one of them has an owner whose lease keeps it alive."""
UNFINISHED_CONDITION = "status IN ('queued', 'running')"
WAITING_CONDITION = "status = 'queued' AND owner_id IS NULL"
"""A run of the queue backend waiting for a worker (a worker's claim names its lease as the owner)."""
STATS_COLUMNS = (
    "deployment_id",
    "created_at",
    "status",
    "duration_ms",
    "output_mismatch",
    "prompt_tokens",
    "completion_tokens",
)
"""The columns of `ix_executions_deployment_stats`: a deployment's runs by start time, with every value the
statistics read (`store/stats.py`) and a roll-up adds up (`store/rollups.py`); the history reads it by its
first two."""


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on both databases (SQLite itself keeps no zone)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        del dialect
        if value is None:
            return None
        assert isinstance(value, datetime)
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


deployments = Table(
    "deployments",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("slug", String(100), nullable=False),
    Column("name", String(255), nullable=False),
    Column("description", Text),
    Column("user_id", String(255)),
    Column("state", String(16), nullable=False, server_default="active"),
    Column("current_version", Integer, nullable=False, server_default="1"),
    Column("execution_count", BigInteger, nullable=False, server_default="0"),
    Column("output_schema_mismatches", BigInteger, nullable=False, server_default="0"),
    Column("last_executed_at", UTCDateTime),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Column("deleted_at", UTCDateTime),
    Column("rate_limit", Json),
    Column("max_concurrency", Integer),
    Column("callbacks_allowed", Boolean, nullable=False, server_default=false()),
    Column("usage_budget", Json),
    Column("retry_policy", String(16)),
    Index(
        "uq_deployments_live_slug",
        "slug",
        unique=True,
        sqlite_where=text("state = 'active'"),
        postgresql_where=text("state = 'active'"),
    ),
    Index("ix_deployments_created_at", "created_at"),
)

deployment_versions = Table(
    "deployment_versions",
    metadata,
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True),
    Column("version", Integer, primary_key=True),
    Column("workflow", Json, nullable=False),
    Column("contract", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("name", String(100), nullable=False),
    Column("lookup_id", String(16), nullable=False),
    Column("key_hash", String(64), nullable=False),
    Column("display_prefix", String(32), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("last_used_at", UTCDateTime),
    Column("expires_at", UTCDateTime),
    Column("revoked_at", UTCDateTime),
    Column("quota_id", Uuid),
    Index("ix_api_keys_lookup_id", "lookup_id"),
    Index("ix_api_keys_deployment_id", "deployment_id"),
)
"""`quota_id` names the rate-limit count a key draws from: a new key's own id, inherited by the key that
replaces it when it is regenerated, so regenerating starts no fresh quota (null: the key's id)."""

executions = Table(
    "executions",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("version", Integer, nullable=False),
    Column("api_key_id", Uuid, ForeignKey("api_keys.id", ondelete="SET NULL")),
    Column("status", String(16), nullable=False),
    Column("inputs", Json),
    Column("outputs", Json),
    Column("error_code", String(64)),
    Column("error_message", Text),
    Column("duration_ms", Integer),
    Column("nodes_executed", Integer, nullable=False, server_default="0"),
    Column("trace", Json),
    Column("created_at", UTCDateTime, nullable=False),
    Column("finished_at", UTCDateTime),
    Column("owner_id", Uuid),
    Column("cancel_requested_at", UTCDateTime),
    Column("cancel_reason", String(32)),
    Column("prompt_tokens", Integer),
    Column("completion_tokens", Integer),
    Column("cost_micros", BigInteger),
    Column("event_log", Text),
    Column("output_mismatch", Boolean, nullable=False, server_default=false()),
    Index("ix_executions_deployment_stats", *STATS_COLUMNS),
    Index("ix_executions_created_at", "created_at"),
    Index(
        "ix_executions_unfinished",
        "owner_id",
        sqlite_where=text(UNFINISHED_CONDITION),
        postgresql_where=text(UNFINISHED_CONDITION),
    ),
    Index(
        "ix_executions_unfinished_by_time",
        "created_at",
        "deployment_id",
        sqlite_where=text(UNFINISHED_CONDITION),
        postgresql_where=text(UNFINISHED_CONDITION),
    ),
    Index(
        "ix_executions_waiting",
        "deployment_id",
        "api_key_id",
        sqlite_where=text(WAITING_CONDITION),
        postgresql_where=text(WAITING_CONDITION),
    ),
)
"""`owner_id` names the process lease (`process_leases`) of a run still `queued` or `running`: when that
lease expires, the run is marked `interrupted` by any live process. `cancel_requested_at` is set when a
cancel reaches a process other than the owner, which polls for it (`service/execution/cancellation.py`),
with `cancel_reason` saying why (a cancel request, or the caller of a queued run hanging up).
`prompt_tokens` and `completion_tokens` sum the token counts the run's nodes reported (null: none did);
`cost_micros` is what its LLM calls cost by the operator's price table, in millionths of its currency (null:
no price table, or no priced call).
`output_mismatch`: the outputs did not match the published output schema. The statistics of a deployment
read its final runs from `execution_rollups`, the runs of an hour the range cuts from
`ix_executions_deployment_stats` alone, and its unfinished runs (few: a final row leaves the partial index)
through `ix_executions_unfinished_by_time`.
`event_log` holds the whole event log of a run in stream, async or wait mode that ended before it was
acknowledged (`execution_events` chunk format): written with its final row, it costs no write of its own."""

execution_rollups = Table(
    "execution_rollups",
    metadata,
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True),
    Column("hour", UTCDateTime, primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("runs", BigInteger, nullable=False),
    Column("output_mismatches", BigInteger, nullable=False),
    Column("prompt_tokens", BigInteger),
    Column("completion_tokens", BigInteger),
    Column("durations", Json, nullable=False),
)
"""The final runs of a deployment that started in an hour (UTC), by final status: how many, how many had
mismatched outputs, the tokens they reported (null: none did) and the histogram of their durations
(`store/histogram.py`). Kept equal to the rows by the writes that make runs final (`store/rollups.py`)."""

execution_events = Table(
    "execution_events",
    metadata,
    Column("execution_id", Uuid, ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True),
    Column("seq", Integer, primary_key=True),
    Column("last_seq", Integer, nullable=False),
    Column("events", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
"""The event log of a run started in stream, async or wait mode, as chunks: each row holds the events
`seq` to `last_seq` (SSE ids) that one flush stored, as a JSON array of `[seq, name, data]` with `data`
the exact JSON text sent live (a string), so a replay is byte for byte what a live reader got. One row
per run per flush, not per event: a quick run's whole log is one row. Deleted with its run."""

queued_runs = Table(
    "queued_runs",
    metadata,
    Column("execution_id", Uuid, ForeignKey("executions.id", ondelete="CASCADE"), primary_key=True),
    Column("mode", String(8), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("content_type", Text),
    Column("version_header", String(64)),
    Column("callback_url", Text),
    Column("job_id", BigInteger),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("outbound_at", UTCDateTime),
    Column("started_version", Integer),
    Column("reply_status", Integer),
    Column("reply_headers", Json),
    Column("reply_body", LargeBinary),
    Column("created_at", UTCDateTime, nullable=False),
)
"""A run of the queue backend (`EXECUTION_BACKEND=queue`), from its `queued` row to the reply its web replica
relays: the request as received (body, content type, pinned version, callback), the procrastinate job that
runs it (`job_id`, replaced when the run is retried), how many times a worker took it (`attempts`), when it
first started an outbound call (`outbound_at`: past that, a retry would repeat a side effect), the version
it started with, and its reply (status, headers, body) as the caller gets it. Deleted with its run."""

rate_limit_windows = Table(
    "rate_limit_windows",
    metadata,
    Column("bucket", String(160), primary_key=True),
    Column("window_start", BigInteger, primary_key=True),
    Column("count", Integer, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    Index("ix_rate_limit_windows_expires_at", "expires_at"),
)

idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), primary_key=True),
    Column("api_key_id", Uuid, ForeignKey("api_keys.id", ondelete="CASCADE"), primary_key=True),
    Column("idempotency_key", String(255), primary_key=True),
    Column("fingerprint", String(64), nullable=False),
    Column("claim_id", Uuid, nullable=False),
    Column("state", String(16), nullable=False),
    Column("response_status", Integer),
    Column("response_headers", Json),
    Column("response_body", LargeBinary),
    Column("created_at", UTCDateTime, nullable=False),
    Column("locked_until", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Column("owner_id", Uuid),
    Index("ix_idempotency_keys_expires_at", "expires_at"),
)

process_leases = Table(
    "process_leases",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("kind", String(16), nullable=False),
    Column("host", String(255), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_process_leases_expires_at", "expires_at"),
)
"""One row per live server or worker process, renewed while it lives: what it owns (unfinished runs,
idempotency claims) is released when its lease expires."""

server_secrets = Table(
    "server_secrets",
    metadata,
    Column("name", String(64), primary_key=True),
    Column("value", String(255), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
)
"""Secrets the server generated for itself when the operator set none (the key-hashing secret), shared by
every replica of the database."""

webhooks = Table(
    "webhooks",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("events", Json, nullable=False),
    Column("secret", String(128), nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_webhooks_deployment_id", "deployment_id"),
)
"""A deployment's webhook endpoints. `secret` (`whsec_...`) is kept because every delivery is signed with
it; the API shows it only in the answer that created it."""

CALLBACK_CONDITION = "webhook_id IS NULL"

webhook_deliveries = Table(
    "webhook_deliveries",
    metadata,
    Column("id", Uuid, primary_key=True),
    Column("webhook_id", Uuid, ForeignKey("webhooks.id", ondelete="CASCADE")),
    Column("execution_id", Uuid, ForeignKey("executions.id", ondelete="CASCADE"), nullable=False),
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("event", String(32), nullable=False),
    Column("payload", Text, nullable=False),
    Column("state", String(16), nullable=False),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Column("next_attempt_at", UTCDateTime),
    Column("locked_until", UTCDateTime),
    Column("owner_id", Uuid),
    Column("last_status_code", Integer),
    Column("last_error", Text),
    Column("attempt_log", Json, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Column("updated_at", UTCDateTime, nullable=False),
    Index("uq_webhook_deliveries_execution_webhook", "execution_id", "webhook_id", unique=True),
    Index(
        "uq_webhook_deliveries_callback",
        "execution_id",
        unique=True,
        sqlite_where=text(CALLBACK_CONDITION),
        postgresql_where=text(CALLBACK_CONDITION),
    ),
    Index("ix_webhook_deliveries_due", "state", "next_attempt_at"),
    Index("ix_webhook_deliveries_webhook_created", "webhook_id", "created_at"),
)
"""One run's event to send to one endpoint, and the log of every attempt. A row is the delivery's only
state (pending, delivering under a claim `owner_id` holds until `locked_until`, succeeded, failed), so a
restart loses none. `webhook_id` null: the run's own `callbackUrl`. Deleted with its run (retention), and
with its webhook: deleting an endpoint also stops the retries still due to it."""

execution_callbacks = Table(
    "execution_callbacks",
    metadata,
    Column("execution_id", Uuid, primary_key=True),
    Column("deployment_id", Uuid, ForeignKey("deployments.id", ondelete="CASCADE"), nullable=False),
    Column("url", Text, nullable=False),
    Column("created_at", UTCDateTime, nullable=False),
    Index("ix_execution_callbacks_created_at", "created_at"),
)
"""A run's `callbackUrl`, waiting for the run to end: stored before the run starts, when its execution row
may not exist yet (a quick run writes only its final row), hence no foreign key to `executions`. When the
run is final its delivery row is inserted and this row removed (`service/webhooks/outbox.py`)."""

manager_sessions = Table(
    "manager_sessions",
    metadata,
    Column("token_hash", String(64), primary_key=True),
    Column("csrf", String(64), nullable=False),
    Column("admin_fingerprint", String(64), nullable=False),
    Column("started_at", UTCDateTime, nullable=False),
    Column("expires_at", UTCDateTime, nullable=False),
    Index("ix_manager_sessions_expires_at", "expires_at"),
)
"""Deployment Manager sessions: the SHA-256 of each session's cookie token (never the token), its CSRF
token, a fingerprint of the admin key it was opened with (a new admin key ends it), and when it ends
unless used again (`expires_at`, moved on by use, never past `started_at` plus the session lifetime)."""
