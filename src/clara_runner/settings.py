"""The one Settings object.

Environment names follow the seed (`PORT`, `DATABASE_URL`, `MAX_EXECUTION_TIME`, ...) so an `.env`
written for the original Node.js server keeps working. Library code never reads the environment:
it receives this object (or plain values taken from it) from the composition root.
"""

from __future__ import annotations

import ipaddress
import warnings
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, ValidationInfo, field_validator
from pydantic.fields import FieldInfo
from pydantic_settings import (
    BaseSettings,
    DotEnvSettingsSource,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from sqlalchemy.engine import make_url

from clara_runner.flow.budget import ValueLimits
from clara_runner.flow.context import ServiceEndpoints
from clara_runner.flow.limits import WorkflowLimits
from clara_runner.flow.sandbox import SandboxLimits
from clara_runner.security.egress import EgressPolicy
from clara_runner.security.hosts import AllowedHosts, parse_allowed_hosts
from clara_runner.service.webhooks.schedule import DEFAULT as DEFAULT_RETRY_SCHEDULE
from clara_runner.service.webhooks.schedule import parse_schedule
from clara_runner.telemetry.spending import parse_prices

_SERVICE_URLS = (
    "openai_base_url",
    "anthropic_base_url",
    "openrouter_base_url",
    "comfyui_url",
    "python_backend_url",
    "clara_assistant_url",
    "ollama_url",
    "mcp_proxy_url",
)
"""The settings that name a service's base URL (the same names as `ServiceEndpoints` fields)."""

RENAMED = {"DB_POOL_MIN": "DB_POOL_SIZE", "DB_POOL_MAX": "DB_POOL_OVERFLOW"}
"""Old variable name -> the name it was renamed to. The old name still works, with a warning, so an
existing `.env` keeps its meaning."""


class DeprecatedSettingWarning(FutureWarning):
    """A setting was given under its old name. A `FutureWarning`, not a `DeprecationWarning`, because it
    is meant for the operator, and Python shows those by default."""


class _OldNames(PydanticBaseSettingsSource):
    """An environment source (the process's or `.env`) that also reads the old names in `RENAMED`,
    warning for each, so the renamed fields need no second alias and the docs list one name."""

    def __init__(self, source: EnvSettingsSource) -> None:
        super().__init__(source.settings_cls)
        self._source = source

    def get_field_value(self, field: FieldInfo, field_name: str) -> tuple[Any, str, bool]:
        return self._source.get_field_value(field, field_name)

    def __call__(self) -> dict[str, Any]:
        values = self._source()
        for old, new in RENAMED.items():
            value = self._source.env_vars.get(old.lower())
            if value is None:
                continue
            if new in values:
                message = f"{old} is ignored: {new}, its new name, is set too; remove {old}"
            else:
                values[new] = value
                message = f"{old} is deprecated: rename it to {new} (same meaning)"
            warnings.warn(message, DeprecatedSettingWarning, stacklevel=2)
        return values


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],  # noqa: ARG003 (the signature pydantic-settings calls)
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        """The default sources, in the default order, with the environment and `.env` also reading the
        old names of renamed settings."""
        assert isinstance(env_settings, EnvSettingsSource)
        assert isinstance(dotenv_settings, DotEnvSettingsSource)
        return init_settings, _OldNames(env_settings), _OldNames(dotenv_settings), file_secret_settings

    host: str = Field("127.0.0.1", alias="HOST", description="Interface to listen on (`clara-runner serve --host`)")
    port: int = Field(3000, alias="PORT", ge=0, le=65535, description="Port to listen on (`clara-runner serve --port`)")
    base_url: str = Field(
        "",
        alias="BASE_URL",
        description="Public URL used in `endpoint` and `docs` links; unset uses the URL of each request",
    )
    allowed_hosts: str = Field(
        "",
        alias="ALLOWED_HOSTS",
        description=(
            "Comma-separated host names the server answers to; other `Host` headers get 400 `host_not_allowed`."
            " Unset: `localhost`, `127.0.0.1` and `[::1]`. The host of `BASE_URL` is always added. `*` answers"
            " any host: unsafe without `CLARA_ADMIN_KEY` (web pages then get loopback trust by DNS rebinding)"
        ),
    )
    data_dir: Path = Field(
        Path("data"),
        alias="CLARA_DATA_DIR",
        description="Where the SQLite file, the generated secret and rows left unwritten at shutdown live",
    )
    database_url: str = Field(
        "",
        alias="DATABASE_URL",
        description=(
            "`postgresql://user:pass@host:5432/db` or `sqlite:///path`; unset means `clara.db` in `CLARA_DATA_DIR`"
        ),
    )
    db_pool_size: int = Field(
        20,
        alias="DB_POOL_SIZE",
        ge=1,
        description="Database connections each process keeps in its pool (its execution writer has one more)",
    )
    db_pool_overflow: int = Field(
        10,
        alias="DB_POOL_OVERFLOW",
        ge=0,
        description="Database connections each process may open beyond `DB_POOL_SIZE` when busy",
    )

    secret_key: str = Field(
        "",
        alias="CLARA_SECRET_KEY",
        description=(
            "Secret that API keys are hashed under (HMAC-SHA256); unset, the first server generates one and keeps "
            "it in the database, where every replica finds it; set it to keep it out of the database"
        ),
    )
    admin_key: str = Field(
        "",
        alias="CLARA_ADMIN_KEY",
        description="Bearer token for deploy, list, delete and regenerate; unset means loopback clients only",
    )
    manager_idle_minutes: int = Field(
        30,
        alias="MANAGER_SESSION_IDLE_MINUTES",
        ge=1,
        le=1440,
        description="A Deployment Manager sign-in ends after this many minutes without a request",
    )
    manager_session_hours: int = Field(
        12,
        alias="MANAGER_SESSION_HOURS",
        ge=1,
        le=720,
        description="A Deployment Manager sign-in ends this many hours after it began, however active",
    )

    max_input_size: int = Field(
        10 * 1024 * 1024,
        alias="MAX_INPUT_SIZE",
        ge=1,
        description="Largest request body (execute and deploy), in bytes (413 beyond it)",
    )
    max_workflow_nodes: int = Field(
        2_000, alias="MAX_WORKFLOW_NODES", ge=1, description="Most nodes a workflow may have for deploy to accept it"
    )
    max_workflow_connections: int = Field(
        10_000,
        alias="MAX_WORKFLOW_CONNECTIONS",
        ge=0,
        description="Most connections a workflow may have for deploy to accept it",
    )
    max_workflow_depth: int = Field(
        32, alias="MAX_WORKFLOW_DEPTH", ge=4, description="Deepest JSON nesting allowed in a deployed workflow"
    )
    max_workflow_string: int = Field(
        1_048_576,
        alias="MAX_WORKFLOW_STRING",
        ge=256,
        description="Longest string allowed in a deployed workflow, in characters (ids and port names: 255)",
    )
    max_output_size: int = Field(
        10 * 1024 * 1024,
        alias="MAX_OUTPUT_SIZE",
        ge=1,
        description="Largest outputs of one execution, in bytes of JSON (502 `output_too_large` beyond it)",
    )
    max_value_size: int = Field(
        10 * 1024 * 1024,
        alias="MAX_VALUE_SIZE",
        ge=1,
        description=(
            "Largest value one node may produce, in characters of JSON, checked as it is produced "
            "(422 `value_too_large` naming the node); PDF text is bounded by it too"
        ),
    )
    max_run_values_size: int = Field(
        256 * 1024 * 1024,
        alias="MAX_RUN_VALUES_SIZE",
        ge=1,
        description=("Largest sum of the distinct values one run holds, in characters of JSON (422 `value_too_large`)"),
    )
    max_execution_time_ms: int = Field(
        300_000,
        alias="MAX_EXECUTION_TIME",
        ge=1,
        description=(
            "Time limit of one execution, in ms; the run is cancelled and answers 504"
            " (a node may set its own `data.timeoutMs`)"
        ),
    )
    max_detached_execution_time_ms: int = Field(
        3_600_000,
        alias="MAX_DETACHED_EXECUTION_TIME",
        ge=1,
        description=(
            "Time limit, in ms, of a run started in stream, async or wait mode (its caller does not hold the"
            " request open for the result); past it the run is cancelled and recorded `timeout`"
        ),
    )
    sse_heartbeat_seconds: float = Field(
        15.0,
        alias="SSE_HEARTBEAT_SECONDS",
        gt=0,
        description="Seconds between comment lines on an idle event stream, so proxies keep it open",
    )
    key_cache_seconds: float = Field(
        5.0,
        alias="KEY_CACHE_SECONDS",
        ge=0,
        description="How long a verified API key is cached, in seconds; revocation reaches other replicas within this",
    )

    # Traffic policy (docs/DEPLOYMENT.md): rate limits, backpressure, CORS, idempotency, retention.
    rate_limit_enabled: bool = Field(
        True,
        alias="RATE_LIMIT_ENABLED",
        description=(
            "Limit execute requests per API key per deployment; `false` turns the server-wide limit off (a "
            "deployment can still turn its own on)"
        ),
    )
    rate_limit_max_requests: int = Field(
        100, alias="RATE_LIMIT_MAX_REQUESTS", ge=1, description="Requests per window for each API key"
    )
    rate_limit_window_ms: int = Field(
        3_600_000, alias="RATE_LIMIT_WINDOW_MS", ge=1000, description="Rate-limit window, in ms (whole seconds)"
    )
    redis_url: str = Field(
        "",
        alias="REDIS_URL",
        description=(
            "`redis://[:password@]host:6379/0` for rate-limit counts shared by every replica; unset keeps them "
            "in the database"
        ),
    )
    max_concurrent_executions: int = Field(
        10,
        alias="MAX_CONCURRENT_EXECUTIONS",
        ge=1,
        description="Executions one process runs at once; more wait, then get 503 `at_capacity`",
    )
    max_queued_executions: int = Field(
        100, alias="MAX_QUEUED_EXECUTIONS", ge=0, description="Requests one process lets wait for an execution slot"
    )
    queue_timeout_ms: int = Field(
        10_000,
        alias="QUEUE_TIMEOUT_MS",
        ge=0,
        description="How long a request waits for a slot before 503, in ms; `0` means it never waits",
    )
    cors_origins: str = Field(
        "",
        alias="CORS_ORIGINS",
        description="Comma-separated origins browsers may call from, or `*`; unset sends no CORS headers",
    )
    idempotency_ttl_seconds: int = Field(
        86_400,
        alias="IDEMPOTENCY_TTL_SECONDS",
        ge=1,
        description="How long an `Idempotency-Key` and its stored response are kept, in seconds",
    )
    execution_retention_days: int = Field(
        30,
        alias="EXECUTION_RETENTION_DAYS",
        ge=0,
        description="Execution rows older than this many days are deleted; `0` keeps them forever",
    )
    housekeeping_interval_seconds: float = Field(
        3600.0,
        alias="HOUSEKEEPING_INTERVAL_SECONDS",
        gt=0,
        description="How often each process prunes old executions, keys and rate-limit windows, in seconds",
    )

    log_level: str = Field(
        "info",
        alias="LOG_LEVEL",
        description=(
            "Log level: `debug`, `info`, `warning` or `error`. The job queue's own per-job lines (procrastinate)"
            " appear at `debug` only; its warnings and errors at every level"
        ),
    )

    # Run lifecycle (docs/DEPLOYMENT.md): when rows are written, leases, shutdown, outages.
    run_record_after_ms: int = Field(
        100,
        alias="RUN_RECORD_AFTER_MS",
        ge=0,
        description=(
            "A run still going this many ms after it got its execution slot gets its `running` execution row"
            " written (a run also gets it before its first outbound call); quicker runs write only their final row"
        ),
    )
    detached_record_after_ms: int = Field(
        10,
        alias="DETACHED_RECORD_AFTER_MS",
        ge=0,
        description=(
            "A run in stream, async or wait mode still going this many ms after it got its execution slot gets"
            " its `running` row written, and an async caller its 202 then; a quicker run is acknowledged by its"
            " final row, which carries its whole event log (capped by RUN_RECORD_AFTER_MS)"
        ),
    )
    process_lease_seconds: float = Field(
        15.0,
        alias="PROCESS_LEASE_SECONDS",
        gt=0,
        description=(
            "Process lease, in seconds, renewed in the database every third of this; when a process dies, its"
            " unfinished runs are marked `interrupted` (`process_lost`) and its idempotency claims freed once"
            " the lease has expired (within this plus one sweep interval, a third of it)"
        ),
    )
    shutdown_grace_seconds: float = Field(
        30.0,
        alias="SHUTDOWN_GRACE_SECONDS",
        ge=0,
        description=(
            "Seconds runs in flight get to finish after SIGTERM/SIGINT (`clara-runner serve --grace`); new requests"
            " meanwhile get 503 `shutting_down`; runs still going at the end are recorded `interrupted`"
            " (`server_shutdown`) and answered 503 (a queue backend worker first hands back to the queue those its"
            " deployment's retry policy allows); the process exits within this plus about 5 s"
        ),
    )
    execution_buffer_limit: int = Field(
        10_000,
        alias="EXECUTION_BUFFER_LIMIT",
        ge=1,
        description=(
            "Most finished runs' rows kept in memory while the database is unreachable, written when it answers"
            " again; new executes get 503 `database_unavailable` while it is unreachable or the buffer is full;"
            " rows unwritten at shutdown are saved under `CLARA_DATA_DIR/unwritten/` and written by the next start"
        ),
    )
    # Queue backend (issue 12, docs/DEPLOYMENT.md): runs executed by `clara-runner worker` processes.
    execution_backend: Literal["inprocess", "queue"] = Field(
        "inprocess",
        alias="EXECUTION_BACKEND",
        description=(
            "`inprocess`: each server process runs its own requests; `queue` (PostgreSQL only): every run is a"
            " job run by `clara-runner worker` processes, and the replica holding the request relays its result"
        ),
    )
    queue_max_depth: int = Field(
        1000,
        alias="QUEUE_MAX_DEPTH",
        ge=1,
        description=(
            "Queue backend: most runs of one deployment waiting for a worker; past it execute gets 503 `queue_full`"
        ),
    )
    queue_max_attempts: int = Field(
        3,
        alias="QUEUE_MAX_ATTEMPTS",
        ge=1,
        description=(
            "Queue backend: most times a run is given to a worker; a run whose worker died this often is recorded"
            " `interrupted` whatever its deployment's `retryPolicy`"
        ),
    )
    # End of the queue backend's settings.
    request_header_timeout_seconds: float = Field(
        10.0,
        alias="REQUEST_HEADER_TIMEOUT_SECONDS",
        gt=0,
        description=(
            "Time a connection gets to send a complete request head, from when it opens or its previous "
            "response ends, in seconds; past it the server answers 408 and closes it"
        ),
    )
    max_connections: int = Field(
        1000,
        alias="MAX_CONNECTIONS",
        ge=1,
        description=(
            "Connections one process keeps open; further ones are closed at once (logged once a minute); "
            "keep it below the process's open-file limit (`ulimit -n`)"
        ),
    )
    web_concurrency: int = Field(
        1, alias="WEB_CONCURRENCY", ge=1, description="Worker processes (`clara-runner serve --workers`)"
    )
    forwarded_allow_ips: str = Field(
        "127.0.0.1,::1",
        alias="FORWARDED_ALLOW_IPS",
        description=(
            "Comma-separated addresses of the proxies whose `X-Forwarded-For` and `X-Forwarded-Proto` give the"
            " client address and scheme (`*`: any connection)"
        ),
    )

    egress_allow_private: bool = Field(
        False,
        alias="EGRESS_ALLOW_PRIVATE",
        description=(
            "`true` lets workflows reach loopback and private networks (metadata endpoints stay blocked unless "
            "`EGRESS_ALLOW_HOSTS` or `EGRESS_ALLOW_CIDRS` names them)"
        ),
    )
    egress_allow_hosts: str = Field(
        "",
        alias="EGRESS_ALLOW_HOSTS",
        description=(
            "Comma-separated hosts workflows may reach even when they resolve to private addresses"
            " (`*.corp.example` allowed)"
        ),
    )
    egress_allow_cidrs: str = Field(
        "",
        alias="EGRESS_ALLOW_CIDRS",
        description=(
            "Comma-separated networks workflows may reach despite the egress policy "
            "(`10.20.0.0/16,fd00:1::/64`); a bad entry stops the server at start"
        ),
    )
    webhook_timeout_seconds: float = Field(
        10.0,
        alias="WEBHOOK_TIMEOUT_SECONDS",
        gt=0,
        description="Time one webhook delivery attempt gets to be answered, in seconds; past it the attempt failed",
    )
    webhook_retry_schedule: str = Field(
        DEFAULT_RETRY_SCHEDULE,
        alias="WEBHOOK_RETRY_SCHEDULE",
        description=(
            "Seconds to wait before each retry of a failed webhook delivery, comma-separated, each spread by up"
            " to 20% (jitter); after the last the delivery is `failed`. The default makes 8 attempts over about"
            " 27.6 hours"
        ),
    )
    webhook_poll_seconds: float = Field(
        5.0,
        alias="WEBHOOK_POLL_SECONDS",
        gt=0,
        description=(
            "How often each process looks for webhook deliveries coming due (retries, and deliveries queued by"
            " other replicas); a run ending in the process wakes it at once"
        ),
    )
    webhook_sweep_window_seconds: float = Field(
        86_400.0,
        alias="WEBHOOK_SWEEP_WINDOW_SECONDS",
        gt=0,
        description=(
            "How far back, in seconds, the sweep (at start and every minute) looks for finished runs whose webhook"
            " deliveries were never queued (a crash between a run's end and its deliveries)"
        ),
    )
    custom_node_timeout_ms: int = Field(
        30_000,
        alias="CUSTOM_NODE_TIMEOUT_MS",
        ge=1,
        description="Time limit of one custom-node or `if-else` evaluation in the JavaScript sandbox, in ms",
    )
    custom_node_memory_mb: int = Field(
        128,
        alias="CUSTOM_NODE_MEMORY_MB",
        ge=8,
        description="Memory (V8 heap) limit of one sandbox evaluation, in MB",
    )
    custom_node_max_isolates: int = Field(
        8,
        alias="CUSTOM_NODE_MAX_ISOLATES",
        ge=1,
        description=(
            "Sandbox worker processes alive at once per server process, each running one evaluation at a time"
            " ([docs/NODES.md](docs/NODES.md))"
        ),
    )
    custom_node_spare_workers: int = Field(
        2,
        alias="CUSTOM_NODE_SPARE_WORKERS",
        ge=0,
        description=(
            "Idle sandbox worker processes kept ready (V8 started, an isolate prepared), so an evaluation pays"
            " no process start; each costs about 35 MB of memory (70 MB resident, half of it shared)"
        ),
    )
    custom_node_max_fetches: int = Field(
        100,
        alias="CUSTOM_NODE_MAX_FETCHES",
        ge=1,
        description="`fetch` requests one sandbox evaluation may make in all; further ones reject inside the script",
    )
    custom_node_max_concurrent_fetches: int = Field(
        6,
        alias="CUSTOM_NODE_MAX_CONCURRENT_FETCHES",
        ge=1,
        description="`fetch` requests of one sandbox evaluation in flight at once; further ones wait their turn",
    )

    openai_api_key: str = Field(
        "",
        alias="OPENAI_API_KEY",
        description="Provider key, sent only to URLs under `OPENAI_API_BASE_URL`",
    )
    openai_base_url: str = Field(
        "https://api.openai.com/v1",
        alias="OPENAI_API_BASE_URL",
        description=(
            "Base URL of `llm`, `structured-llm`, agent fallback and `whisper-transcription` nodes without their own"
            " `apiBaseUrl` (any OpenAI-compatible server: Ollama, LM Studio, vLLM)"
        ),
    )
    anthropic_api_key: str = Field(
        "",
        alias="ANTHROPIC_API_KEY",
        description="Provider key, sent only to URLs under `ANTHROPIC_API_BASE_URL`",
    )
    anthropic_base_url: str = Field(
        "https://api.anthropic.com",
        alias="ANTHROPIC_API_BASE_URL",
        description="Base URL for nodes whose provider or base URL is Anthropic",
    )
    openrouter_api_key: str = Field(
        "",
        alias="OPENROUTER_API_KEY",
        description="Provider key, sent only to URLs under `OPENROUTER_API_BASE_URL`",
    )
    openrouter_base_url: str = Field(
        "https://openrouter.ai/api/v1",
        alias="OPENROUTER_API_BASE_URL",
        description="Base URL of nodes whose provider is `openrouter`",
    )
    comfyui_url: str = Field(
        "http://localhost:8188", alias="COMFYUI_URL", description="ComfyUI for `comfyui-image-gen`"
    )
    python_backend_url: str = Field(
        "http://localhost:5001",
        alias="PYTHON_BACKEND_URL",
        description=(
            "The Clara Python backend for `speech-to-text`, `text-to-speech`, `notebook-writer`, `notebook-chat`"
        ),
    )
    clara_assistant_url: str = Field(
        "http://localhost:8069", alias="CLARA_ASSISTANT_URL", description="The Clara Assistant for `agent-executor`"
    )
    ollama_url: str = Field(
        "http://localhost:11434", alias="OLLAMA_URL", description="Ollama, for nodes whose provider is `ollama`"
    )
    mcp_proxy_url: str = Field(
        "http://127.0.0.1:8092", alias="MCP_PROXY_URL", description="The MCP proxy for `agent-executor`"
    )
    agent_provider: str = Field(
        "", alias="AGENT_PROVIDER", description="The agent provider used when a node names none"
    )

    # --- Operations: metrics, usage budgets, logs, traces ---
    log_format: Literal["json", "console"] = Field(
        "json",
        alias="LOG_FORMAT",
        description="`json`: one JSON object per line (every library's lines too); `console`: readable text",
    )
    log_requests: bool = Field(
        True,
        alias="LOG_REQUESTS",
        description="Log one line per HTTP request and per run (at `info`: request id, execution id, deployment, "
        "key prefix, status, duration)",
    )
    metrics_enabled: bool = Field(
        True, alias="METRICS_ENABLED", description="Expose Prometheus metrics (`/metrics`, see `METRICS_PORT`)"
    )
    metrics_port: int = Field(
        0,
        alias="METRICS_PORT",
        ge=0,
        le=65535,
        description=(
            "`0`: `/metrics` is served on the API port to the admin only (`CLARA_ADMIN_KEY`, or loopback when it is"
            " unset); a port: served there without authentication (keep that port off public networks), and not"
            " on the API port. `clara-runner worker` has no API port: it serves its own metrics on this port only"
        ),
    )
    metrics_deployment_labels: bool = Field(
        True,
        alias="METRICS_DEPLOYMENT_LABELS",
        description="Label execution metrics with the deployment's slug and version; `false` bounds the series"
        " when deployments are many",
    )
    usage_prices: str = Field(
        "",
        alias="USAGE_PRICES",
        description=(
            'Price table for run costs, per million tokens by model (JSON, e.g. `{"gpt-4o": {"prompt": 2.5,'
            ' "completion": 10}}`; `"*"` prices models not named); unset: no costs are reported. Nothing is fetched'
        ),
    )
    usage_cache_seconds: float = Field(
        5.0,
        alias="USAGE_CACHE_SECONDS",
        ge=0,
        description="How long a process trusts a key's summed token use when checking its `usageBudget`",
    )
    otel_exporter_otlp_endpoint: str = Field(
        "",
        alias="OTEL_EXPORTER_OTLP_ENDPOINT",
        description="OTLP/HTTP collector to send traces to (e.g. `http://otel-collector:4318`; spans go to its"
        " `/v1/traces`); unset: no tracing, at no cost",
    )
    otel_service_name: str = Field(
        "clara-agent-runner", alias="OTEL_SERVICE_NAME", description="`service.name` of the traces"
    )
    otel_capture_message_content: bool = Field(
        False,
        alias="OTEL_INSTRUMENTATION_GENAI_CAPTURE_MESSAGE_CONTENT",
        description="Put LLM prompts and replies on their spans (`gen_ai.input.messages`, `gen_ai.output.messages`;"
        " secrets redacted); off: model, token counts and finish reason only",
    )
    # --- end of operations settings ---

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("allowed_hosts")
    @classmethod
    def _valid_hosts(cls, value: str) -> str:
        parse_allowed_hosts(value)
        return value

    @field_validator("egress_allow_cidrs")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"EGRESS_ALLOW_CIDRS: '{item}' is not a network like 10.0.0.0/8") from exc
        return value

    @field_validator("usage_prices")
    @classmethod
    def _valid_prices(cls, value: str) -> str:
        parse_prices(value)
        return value

    @field_validator("webhook_retry_schedule")
    @classmethod
    def _valid_schedule(cls, value: str) -> str:
        parse_schedule(value)
        return value

    @field_validator("execution_backend")
    @classmethod
    def _queue_needs_postgres(cls, value: str, info: ValidationInfo) -> str:
        if value == "queue" and not str(info.data.get("database_url", "")).startswith("postgresql"):
            raise ValueError(
                "the queue backend needs PostgreSQL: set DATABASE_URL=postgresql://user:pass@host:5432/db,"
                " or use EXECUTION_BACKEND=inprocess"
            )
        return value

    def webhook_retry_delays(self) -> tuple[float, ...]:
        return parse_schedule(self.webhook_retry_schedule)

    def workflow_limits(self) -> WorkflowLimits:
        return WorkflowLimits(
            max_nodes=self.max_workflow_nodes,
            max_connections=self.max_workflow_connections,
            max_depth=self.max_workflow_depth,
            max_string=self.max_workflow_string,
        )

    def hosts(self) -> AllowedHosts:
        """The host names requests may name (`ALLOWED_HOSTS` and `BASE_URL`'s host)."""
        return AllowedHosts.from_settings(self.allowed_hosts, self.base_url)

    def egress_policy(self) -> EgressPolicy:
        return EgressPolicy.from_lists(
            allow_private=self.egress_allow_private,
            hosts=self.egress_allow_hosts.split(","),
            cidrs=self.egress_allow_cidrs.split(","),
        )

    def secret_values(self) -> tuple[str, ...]:
        """Every secret this configuration holds: never to be logged, recorded or returned."""
        database_password = make_url(self.database_url).password if self.database_url else None
        return tuple(
            value
            for value in (
                self.secret_key,
                self.admin_key,
                self.openai_api_key,
                self.anthropic_api_key,
                self.openrouter_api_key,
                database_password,
            )
            if value
        )

    @field_validator("rate_limit_window_ms")
    @classmethod
    def _whole_seconds(cls, value: int) -> int:
        if value % 1000:
            raise ValueError("RATE_LIMIT_WINDOW_MS must be a whole number of seconds (a multiple of 1000)")
        return value

    @property
    def public_base_url(self) -> str:
        """The URL clients reach us at; used in endpoint links when `BASE_URL` is unset."""
        if self.base_url:
            return self.base_url
        host = "localhost" if self.host in ("127.0.0.1", "0.0.0.0", "::", "::1") else self.host  # noqa: S104
        return f"http://{host}:{self.port}"

    @property
    def resolved_database_url(self) -> str:
        """`DATABASE_URL`, or a SQLite file in the data folder when it is unset."""
        return self.database_url or f"sqlite:///{self.data_dir / 'clara.db'}"

    def service_endpoints(self) -> ServiceEndpoints:
        """The services nodes call. A service URL is trusted (reached past the egress policy) only when
        the operator set it (environment, `.env` or an argument), even to its default value: pydantic
        records those in `model_fields_set`, and leaves the built-in defaults out."""
        urls = {name: str(getattr(self, name)).rstrip("/") for name in _SERVICE_URLS}
        return ServiceEndpoints(
            **urls,
            openai_api_key=self.openai_api_key,
            anthropic_api_key=self.anthropic_api_key,
            openrouter_api_key=self.openrouter_api_key,
            agent_provider=self.agent_provider,
            trusted=frozenset(url for name, url in urls.items() if url and name in self.model_fields_set),
        )

    def value_limits(self) -> ValueLimits:
        return ValueLimits(max_value=self.max_value_size, max_total=self.max_run_values_size)

    def sandbox_limits(self) -> SandboxLimits:
        """Limits of one custom-node or `if-else` evaluation in the JavaScript sandbox."""
        return SandboxLimits(
            timeout_seconds=self.custom_node_timeout_ms / 1000,
            memory_bytes=self.custom_node_memory_mb * 1024 * 1024,
            max_isolates=self.custom_node_max_isolates,
            spare_isolates=self.custom_node_spare_workers,
            max_fetches=self.custom_node_max_fetches,
            max_concurrent_fetches=self.custom_node_max_concurrent_fetches,
        )

    @property
    def max_execution_seconds(self) -> float:
        return self.max_execution_time_ms / 1000

    @property
    def max_detached_execution_seconds(self) -> float:
        return self.max_detached_execution_time_ms / 1000
