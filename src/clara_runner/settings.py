"""The one Settings object.

Environment names follow the seed (`PORT`, `DATABASE_URL`, `MAX_EXECUTION_TIME`, ...) so an `.env`
written for the original Node.js server keeps working. Library code never reads the environment:
it receives this object (or plain values taken from it) from the composition root.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict
from sqlalchemy.engine import make_url

from clara_runner.flow.context import ServiceEndpoints
from clara_runner.flow.limits import WorkflowLimits
from clara_runner.flow.sandbox import SandboxLimits
from clara_runner.security.egress import EgressPolicy


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(3000, alias="PORT", ge=0, le=65535)
    base_url: str = Field("", alias="BASE_URL")
    data_dir: Path = Field(Path("data"), alias="CLARA_DATA_DIR")
    database_url: str = Field("", alias="DATABASE_URL")
    db_pool_size: int = Field(20, alias="DB_POOL_MIN", ge=1)
    db_pool_overflow: int = Field(10, alias="DB_POOL_MAX", ge=0)

    secret_key: str = Field("", alias="CLARA_SECRET_KEY")
    admin_key: str = Field("", alias="CLARA_ADMIN_KEY")

    max_input_size: int = Field(10 * 1024 * 1024, alias="MAX_INPUT_SIZE", ge=1)
    max_workflow_nodes: int = Field(2_000, alias="MAX_WORKFLOW_NODES", ge=1)
    max_workflow_connections: int = Field(10_000, alias="MAX_WORKFLOW_CONNECTIONS", ge=0)
    max_workflow_depth: int = Field(32, alias="MAX_WORKFLOW_DEPTH", ge=4)
    max_workflow_string: int = Field(1_048_576, alias="MAX_WORKFLOW_STRING", ge=256)
    max_output_size: int = Field(10 * 1024 * 1024, alias="MAX_OUTPUT_SIZE", ge=1)
    max_execution_time_ms: int = Field(300_000, alias="MAX_EXECUTION_TIME", ge=1)
    key_cache_seconds: float = Field(5.0, alias="KEY_CACHE_SECONDS", ge=0)

    # Traffic policy (docs/DEPLOYMENT.md): rate limits, backpressure, CORS, idempotency, retention.
    rate_limit_enabled: bool = Field(True, alias="RATE_LIMIT_ENABLED")
    rate_limit_max_requests: int = Field(100, alias="RATE_LIMIT_MAX_REQUESTS", ge=1)
    rate_limit_window_ms: int = Field(3_600_000, alias="RATE_LIMIT_WINDOW_MS", ge=1000)
    redis_url: str = Field("", alias="REDIS_URL")
    max_concurrent_executions: int = Field(10, alias="MAX_CONCURRENT_EXECUTIONS", ge=1)
    max_queued_executions: int = Field(100, alias="MAX_QUEUED_EXECUTIONS", ge=0)
    queue_timeout_ms: int = Field(10_000, alias="QUEUE_TIMEOUT_MS", ge=0)
    cors_origins: str = Field("", alias="CORS_ORIGINS")
    idempotency_ttl_seconds: int = Field(86_400, alias="IDEMPOTENCY_TTL_SECONDS", ge=1)
    execution_retention_days: int = Field(30, alias="EXECUTION_RETENTION_DAYS", ge=0)
    housekeeping_interval_seconds: float = Field(3600.0, alias="HOUSEKEEPING_INTERVAL_SECONDS", gt=0)

    log_level: str = Field("info", alias="LOG_LEVEL")

    # Run lifecycle (docs/DEPLOYMENT.md): when rows are written, leases, shutdown, outages.
    run_record_after_ms: int = Field(100, alias="RUN_RECORD_AFTER_MS", ge=0)
    process_lease_seconds: float = Field(15.0, alias="PROCESS_LEASE_SECONDS", gt=0)
    shutdown_grace_seconds: float = Field(30.0, alias="SHUTDOWN_GRACE_SECONDS", ge=0)
    execution_buffer_limit: int = Field(10_000, alias="EXECUTION_BUFFER_LIMIT", ge=1)
    web_concurrency: int = Field(1, alias="WEB_CONCURRENCY", ge=1)

    egress_allow_private: bool = Field(False, alias="EGRESS_ALLOW_PRIVATE")
    egress_allow_hosts: str = Field("", alias="EGRESS_ALLOW_HOSTS")
    egress_allow_cidrs: str = Field("", alias="EGRESS_ALLOW_CIDRS")
    custom_node_timeout_ms: int = Field(30_000, alias="CUSTOM_NODE_TIMEOUT_MS", ge=1)
    custom_node_memory_mb: int = Field(128, alias="CUSTOM_NODE_MEMORY_MB", ge=8)
    custom_node_max_isolates: int = Field(8, alias="CUSTOM_NODE_MAX_ISOLATES", ge=1)

    openai_api_key: str = Field("", alias="OPENAI_API_KEY")
    openai_base_url: str = Field("https://api.openai.com/v1", alias="OPENAI_API_BASE_URL")
    anthropic_api_key: str = Field("", alias="ANTHROPIC_API_KEY")
    anthropic_base_url: str = Field("https://api.anthropic.com", alias="ANTHROPIC_API_BASE_URL")
    openrouter_api_key: str = Field("", alias="OPENROUTER_API_KEY")
    openrouter_base_url: str = Field("https://openrouter.ai/api/v1", alias="OPENROUTER_API_BASE_URL")
    comfyui_url: str = Field("http://localhost:8188", alias="COMFYUI_URL")
    python_backend_url: str = Field("http://localhost:5001", alias="PYTHON_BACKEND_URL")
    clara_assistant_url: str = Field("http://localhost:8069", alias="CLARA_ASSISTANT_URL")
    ollama_url: str = Field("http://localhost:11434", alias="OLLAMA_URL")
    mcp_proxy_url: str = Field("http://127.0.0.1:8092", alias="MCP_PROXY_URL")
    agent_provider: str = Field("", alias="AGENT_PROVIDER")

    @field_validator("base_url")
    @classmethod
    def _strip_trailing_slash(cls, value: str) -> str:
        return value.rstrip("/")

    @field_validator("egress_allow_cidrs")
    @classmethod
    def _valid_networks(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            try:
                ipaddress.ip_network(item, strict=False)
            except ValueError as exc:
                raise ValueError(f"EGRESS_ALLOW_CIDRS: '{item}' is not a network like 10.0.0.0/8") from exc
        return value

    def workflow_limits(self) -> WorkflowLimits:
        return WorkflowLimits(
            max_nodes=self.max_workflow_nodes,
            max_connections=self.max_workflow_connections,
            max_depth=self.max_workflow_depth,
            max_string=self.max_workflow_string,
        )

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
        return ServiceEndpoints(
            openai_base_url=self.openai_base_url.rstrip("/"),
            openai_api_key=self.openai_api_key,
            anthropic_base_url=self.anthropic_base_url.rstrip("/"),
            anthropic_api_key=self.anthropic_api_key,
            openrouter_base_url=self.openrouter_base_url.rstrip("/"),
            openrouter_api_key=self.openrouter_api_key,
            comfyui_url=self.comfyui_url.rstrip("/"),
            python_backend_url=self.python_backend_url.rstrip("/"),
            clara_assistant_url=self.clara_assistant_url.rstrip("/"),
            ollama_url=self.ollama_url.rstrip("/"),
            mcp_proxy_url=self.mcp_proxy_url.rstrip("/"),
            agent_provider=self.agent_provider,
        )

    def sandbox_limits(self) -> SandboxLimits:
        """Limits of one custom-node or `if-else` evaluation in the JavaScript sandbox."""
        return SandboxLimits(
            timeout_seconds=self.custom_node_timeout_ms / 1000,
            memory_bytes=self.custom_node_memory_mb * 1024 * 1024,
            max_isolates=self.custom_node_max_isolates,
        )

    @property
    def max_execution_seconds(self) -> float:
        return self.max_execution_time_ms / 1000
