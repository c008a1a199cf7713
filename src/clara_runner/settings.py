"""The one Settings object.

Environment names follow the seed (`PORT`, `DATABASE_URL`, `MAX_EXECUTION_TIME`, ...) so an `.env`
written for the original Node.js server keeps working. Library code never reads the environment:
it receives this object (or plain values taken from it) from the composition root.
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from clara_runner.flow.context import ServiceEndpoints
from clara_runner.flow.sandbox import SandboxLimits


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_file=".env", extra="ignore", populate_by_name=True)

    host: str = Field("127.0.0.1", alias="HOST")
    port: int = Field(3000, alias="PORT", ge=0, le=65535)
    base_url: str = Field("", alias="BASE_URL")
    data_dir: Path = Field(Path("data"), alias="CLARA_DATA_DIR")
    database_url: str = Field("", alias="DATABASE_URL")
    db_pool_size: int = Field(5, alias="DB_POOL_MIN", ge=1)
    db_pool_overflow: int = Field(10, alias="DB_POOL_MAX", ge=0)

    secret_key: str = Field("", alias="CLARA_SECRET_KEY")
    admin_key: str = Field("", alias="CLARA_ADMIN_KEY")

    max_input_size: int = Field(10 * 1024 * 1024, alias="MAX_INPUT_SIZE", ge=1)
    max_execution_time_ms: int = Field(300_000, alias="MAX_EXECUTION_TIME", ge=1)
    key_cache_seconds: float = Field(5.0, alias="KEY_CACHE_SECONDS", ge=0)

    log_level: str = Field("info", alias="LOG_LEVEL")

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
