"""`AsyncDeploymentClient`: the API of a Clara Agent Runner server, for asyncio code (FastAPI, aiohttp, agents).

The same methods as `DeploymentClient` (`blocking.py`), awaited."""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from types import TracebackType
from typing import Any, TypeVar

import httpx2

from clara_runner.client.calls import FINAL_EVENTS, Call, Calls, EventDecoder, decoded, error_of
from clara_runner.client.errors import CONNECTION_FAILED, ClaraApiError
from clara_runner.client.models import (
    ApiKey,
    ApiKeyPage,
    DeleteResult,
    DeployedWorkflow,
    DeploymentPage,
    ExecutionDetail,
    ExecutionPage,
    ExecutionResult,
    NewApiKey,
    RegeneratedKey,
    RunAccepted,
    RunEvent,
    WorkflowDetails,
    WorkflowStats,
)
from clara_runner.client.settings import DEFAULT_BASE_URL, DEFAULT_TIMEOUT, USER_AGENT

T = TypeVar("T")


class AsyncDeploymentClient:
    """Deploy, run, watch and manage workflows on one server.

    `admin_key` is sent to management calls (deploy, list, keys, and any call given no key of its own);
    leave it out for a server that trusts this machine (no `CLARA_ADMIN_KEY` set). Every refusal raises
    `ClaraApiError` with the server's `code`. Use it as an async context manager, or await `aclose()`.
    """

    def __init__(
        self,
        base_url: str = DEFAULT_BASE_URL,
        *,
        admin_key: str | None = None,
        timeout: float = DEFAULT_TIMEOUT,
        transport: httpx2.AsyncBaseTransport | None = None,
    ) -> None:
        self._calls = Calls(admin_key)
        self._http = httpx2.AsyncClient(
            base_url=base_url, timeout=timeout, transport=transport, headers={"User-Agent": USER_AGENT}
        )

    async def __aenter__(self) -> AsyncDeploymentClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, traceback: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def deploy_workflow(
        self,
        workflow: Any,
        *,
        name: str,
        description: str | None = None,
        slug: str | None = None,
        user_id: str | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> DeployedWorkflow:
        """Deploy an Agent Studio export (or a `{nodes, connections}` document): the endpoint, the schemas and
        the API key, which this answer alone shows. `options`: further deploy fields (`allowUnknownFields`,
        `rateLimit`, `maxConcurrency`, `allowCallbackUrl`)."""
        return await self._send(self._calls.deploy_workflow(workflow, name, description, slug, user_id, options))

    async def get_deployments(
        self, *, limit: int | None = None, offset: int | None = None, user_id: str | None = None
    ) -> DeploymentPage:
        return await self._send(self._calls.get_deployments(limit, offset, user_id))

    async def get_deployment_details(self, slug: str) -> WorkflowDetails:
        return await self._send(self._calls.get_deployment_details(slug))

    async def execute_workflow(
        self,
        slug: str,
        inputs: Mapping[str, Any],
        api_key: str,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> ExecutionResult:
        return await self._send(self._calls.execute_workflow(slug, inputs, api_key, version, idempotency_key))

    async def undeploy_workflow(self, deployment_id: str, api_key: str | None = None) -> DeleteResult:
        return await self._send(self._calls.undeploy_workflow(deployment_id, api_key))

    async def regenerate_api_key(
        self, deployment_id: str, old_key: str | None = None, *, overlap_seconds: int | None = None
    ) -> RegeneratedKey:
        """A new key; the old ones stop working at once, or after `overlap_seconds`."""
        return await self._send(self._calls.regenerate_api_key(deployment_id, old_key, overlap_seconds))

    def stream_workflow(
        self, slug: str, inputs: Mapping[str, Any], api_key: str, *, version: int | None = None
    ) -> AsyncIterator[RunEvent]:
        """Run and yield its events as they happen, `run.finished` (or `run.failed`) last."""
        return self._events(self._calls.stream_workflow(slug, inputs, api_key, version))

    async def start_workflow(
        self,
        slug: str,
        inputs: Mapping[str, Any],
        api_key: str,
        *,
        version: int | None = None,
        idempotency_key: str | None = None,
    ) -> RunAccepted:
        """Start a run without waiting for it (async mode): follow it with `get_execution` or `execution_events`."""
        return await self._send(self._calls.start_workflow(slug, inputs, api_key, version, idempotency_key))

    async def get_executions(
        self,
        slug: str,
        api_key: str | None = None,
        *,
        limit: int | None = None,
        offset: int | None = None,
        status: str | None = None,
    ) -> ExecutionPage:
        return await self._send(self._calls.get_executions(slug, api_key, limit, offset, status))

    async def get_execution(self, execution_id: str, api_key: str | None = None) -> ExecutionDetail:
        return await self._send(self._calls.get_execution(execution_id, api_key))

    async def cancel_execution(self, execution_id: str, api_key: str | None = None) -> ExecutionDetail:
        return await self._send(self._calls.cancel_execution(execution_id, api_key))

    def execution_events(
        self, execution_id: str, api_key: str | None = None, *, last_event_id: str | None = None
    ) -> AsyncIterator[RunEvent]:
        """A run's events from the start (or after `last_event_id`), then live until its last one."""
        return self._events(self._calls.execution_events(execution_id, api_key, last_event_id))

    async def get_stats(
        self,
        slug: str,
        api_key: str | None = None,
        *,
        start: str | None = None,
        end: str | None = None,
        bucket: str | None = None,
    ) -> WorkflowStats:
        """Statistics of runs started in [start, end) (ISO 8601), per `hour` or `day`."""
        return await self._send(self._calls.get_stats(slug, api_key, start, end, bucket))

    async def create_key(self, slug: str, name: str, *, expires_at: str | None = None) -> NewApiKey:
        return await self._send(self._calls.create_key(slug, name, expires_at))

    async def list_keys(self, slug: str, *, limit: int | None = None, offset: int | None = None) -> ApiKeyPage:
        return await self._send(self._calls.list_keys(slug, limit, offset))

    async def revoke_key(self, slug: str, key_id: str) -> ApiKey:
        return await self._send(self._calls.revoke_key(slug, key_id))

    async def _send(self, call: Call[T]) -> T:
        try:
            response = await self._http.request(
                call.method, call.path, json=call.body, params=call.params, headers=call.headers
            )
        except httpx2.TransportError as exc:
            raise ClaraApiError(CONNECTION_FAILED, f"{type(exc).__name__}: {exc}") from exc
        return call.pick(decoded(response.status_code, response.headers, response.content))

    async def _events(self, call: Call[None]) -> AsyncIterator[RunEvent]:
        try:
            async with self._http.stream(
                call.method, call.path, json=call.body, params=call.params, headers=call.headers
            ) as response:
                if response.status_code != 200 or "text/event-stream" not in response.headers.get("content-type", ""):
                    content = await response.aread()
                    decoded(response.status_code, response.headers, content)
                    raise error_of(response.status_code, response.headers, None, content)
                decoder = EventDecoder()
                async for line in response.aiter_lines():
                    event = decoder.feed(line)
                    if event is not None:
                        yield event
                        if event["event"] in FINAL_EVENTS:
                            return
        except httpx2.TransportError as exc:
            raise ClaraApiError(CONNECTION_FAILED, f"{type(exc).__name__}: {exc}") from exc
