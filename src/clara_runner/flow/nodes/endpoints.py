"""Where a node's outbound call goes, with which key, through which HTTP client.

The rule that keeps server keys safe lives here and only here ("environment injection"):
* a node with no base URL uses the one the operator configured (e.g. `OPENAI_API_BASE_URL`);
* a node's own `apiKey` is used as given;
* otherwise the call carries the server key configured for that base URL, and only if the URL is
  (under) that base URL (`ServiceEndpoints.key_for`): a workflow that points `apiBaseUrl` at another
  host gets no server key.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum
from urllib.parse import urlsplit

import httpx2

from clara_runner.flow.context import ServiceEndpoints, url_under
from clara_runner.flow.llm_calls import LlmObserver
from clara_runner.flow.nodes.base import NodeCall
from clara_runner.flow.nodes.remote import client_for

_ANTHROPIC_HOST = "api.anthropic.com"


class Wire(Enum):
    """The protocol an LLM endpoint speaks."""

    OPENAI = "openai"  #: `/chat/completions` (OpenAI, Ollama, LM Studio, vLLM, OpenRouter, ...)
    ANTHROPIC = "anthropic"  #: `/v1/messages`


@dataclass(frozen=True, slots=True)
class Endpoint:
    wire: Wire
    base_url: str
    api_key: str
    client: httpx2.AsyncClient
    observer: LlmObserver | None = None
    """The run's watcher of LLM calls, if any (`flow/llm_calls.py`)."""


def llm_endpoint(call: NodeCall, *, provider: str = "", base_url: str = "", api_key: str = "") -> Endpoint:
    """Resolve a node's `provider`, `apiBaseUrl` and `apiKey` into the endpoint it will call."""
    services = call.context.services
    provider = provider.strip().lower()
    url = base_url.strip().rstrip("/")
    wire = Wire.ANTHROPIC if provider == "anthropic" or _is_anthropic(url, services) else Wire.OPENAI
    if not url:
        url = _configured_base(wire, provider, services)
    if wire is Wire.ANTHROPIC:
        url = url.removesuffix("/v1")
    key = api_key.strip() or services.key_for(url)
    return Endpoint(wire, url, key, client_for(call, url), call.context.llm_calls)


def _is_anthropic(url: str, services: ServiceEndpoints) -> bool:
    if not url:
        return False
    if urlsplit(url).hostname == _ANTHROPIC_HOST:
        return True
    return bool(services.anthropic_base_url) and url_under(url, services.anthropic_base_url)


def _configured_base(wire: Wire, provider: str, services: ServiceEndpoints) -> str:
    if wire is Wire.ANTHROPIC:
        return services.anthropic_base_url
    if provider == "openrouter":
        return services.openrouter_base_url
    if provider == "ollama":
        return services.ollama_url.rstrip("/") + "/v1"
    return services.openai_base_url
