"""Everything a run may use besides its inputs: where to report events, which services the operator
configured (with their keys), and the HTTP clients to reach them.

The context is built by whoever starts the run (the execute service, the CLI, a test) and is shared,
read-only, by every node of the run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from http.cookiejar import CookieJar, DefaultCookiePolicy

import httpx2

from clara_runner.flow.budget import ValueLimits
from clara_runner.flow.events import EventSink, discard
from clara_runner.flow.http_transport import AiohttpTransport
from clara_runner.flow.llm_calls import LlmObserver, NodeObserver
from clara_runner.flow.outbound import OutboundHook
from clara_runner.flow.sandbox import JsSandbox


@dataclass(frozen=True, slots=True)
class ServiceEndpoints:
    """The services nodes call and the provider keys ("environment injection").

    A key held here is only ever sent to the base URL configured next to it: a node that names
    another URL gets no server key (see `key_for`). Only the base URLs in `trusted`, the ones the
    operator set, are reached past the egress policy (see `owns`): a built-in default such as
    `http://localhost:8069` is where a node calls when nobody configured the service, not a place the
    operator vouched for, so calls to it pass the egress policy like a URL the workflow chose.
    """

    openai_base_url: str = "https://api.openai.com/v1"
    openai_api_key: str = ""
    anthropic_base_url: str = "https://api.anthropic.com"
    anthropic_api_key: str = ""
    openrouter_base_url: str = "https://openrouter.ai/api/v1"
    openrouter_api_key: str = ""
    comfyui_url: str = "http://localhost:8188"
    python_backend_url: str = "http://localhost:5001"
    clara_assistant_url: str = "http://localhost:8069"
    ollama_url: str = "http://localhost:11434"
    mcp_proxy_url: str = "http://127.0.0.1:8092"
    agent_provider: str = ""
    trusted: frozenset[str] = frozenset()
    """The base URLs above that the operator set explicitly."""

    def owns(self, url: str) -> bool:
        """True when `url` lies under one of the trusted service base URLs."""
        return any(url_under(url, base) for base in self.trusted if base)

    def key_for(self, url: str) -> str:
        """The server-held provider key configured for the base URL that `url` lies under, else "".

        This is the only way a node obtains a server key, so a key never leaves for a URL that the
        workflow chose: the URL must be (under) the one the operator configured next to the key.
        """
        pairs = (
            (self.openai_base_url, self.openai_api_key),
            (self.anthropic_base_url, self.anthropic_api_key),
            (self.openrouter_base_url, self.openrouter_api_key),
        )
        return next((key for base, key in pairs if key and base and url_under(url, base)), "")


def url_under(url: str, base: str) -> bool:
    """True when `url` is `base` or lies below it (`base` followed by `/` or `?`): same origin, same path prefix."""
    base = base.rstrip("/")
    return url == base or url.startswith(base + "/") or url.startswith(base + "?")


@dataclass(frozen=True, slots=True)
class HttpClients:
    """Outbound HTTP for nodes: `services` reaches the services the operator configured (`owns`);
    `workflow` reaches every other URL, and is where the egress policy applies."""

    services: httpx2.AsyncClient
    workflow: httpx2.AsyncClient

    def for_url(self, url: str, endpoints: ServiceEndpoints) -> httpx2.AsyncClient:
        return self.services if endpoints.owns(url) else self.workflow

    async def aclose(self) -> None:
        await self.services.aclose()
        await self.workflow.aclose()


def default_http_clients(
    workflow_transport: httpx2.AsyncBaseTransport | None = None,
    services_transport: httpx2.AsyncBaseTransport | None = None,
) -> HttpClients:
    """Clients with sane timeouts, sending over aiohttp (`AiohttpTransport`, sized for wide fan-outs);
    `workflow_transport` is where the caller plugs the egress policy in, and `services_transport`
    where it keeps the services client's redirects within the services' origins.

    The workflow client ignores proxy environment variables: a proxy mount would bypass the transport.
    Both clients serve every execution of every deployment, so neither keeps cookies: a cookie one
    workflow received must never ride along on another workflow's request.
    """
    timeout = httpx2.Timeout(60.0, connect=10.0)
    return HttpClients(
        services=httpx2.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            transport=services_transport or AiohttpTransport(),
            cookies=_no_cookies(),
        ),
        workflow=httpx2.AsyncClient(
            timeout=timeout,
            follow_redirects=True,
            transport=workflow_transport or AiohttpTransport(),
            trust_env=False,
            cookies=_no_cookies(),
        ),
    )


def _no_cookies() -> CookieJar:
    return CookieJar(policy=DefaultCookiePolicy(allowed_domains=[]))


@dataclass(frozen=True, slots=True)
class RunContext:
    events: EventSink = discard
    execution_id: str = ""
    services: ServiceEndpoints = field(default_factory=ServiceEndpoints)
    http: HttpClients | None = None
    sandbox: JsSandbox | None = None
    """Where custom-node code and `if-else` expressions run; nodes that need it fail clearly without it."""
    value_limits: ValueLimits = field(default_factory=ValueLimits)
    """How large one value a node produces, and all of a run's values together, may be (`flow/budget.py`)."""
    before_outbound: OutboundHook | None = None
    """Awaited before every outbound HTTP request of the run (`flow/outbound.py`): the server records the run
    as `running` there, so a run that had a side effect is never lost without a trace."""
    llm_calls: LlmObserver | None = None
    nodes: NodeObserver | None = None
    """Wraps every node's run (`flow/runner.py`): the server's trace spans."""
    """Watches every LLM call of the run (`flow/llm_calls.py`): the server's metrics and traces."""
    stream_tokens: bool = False
    """Someone may be following the run's events: LLM nodes stream their replies (as with their own
    `stream: true`), so each piece of text becomes a `token` event as it arrives."""
