"""Every request of the client, described once (method, path, body, credentials, what to return), for
the blocking and the asyncio client alike; and the reading of answers: errors and event streams."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import quote

from clara_runner.client.errors import UNEXPECTED_RESPONSE, ClaraApiError
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

T = TypeVar("T")
EVENT_STREAM = "text/event-stream"


@dataclass(frozen=True, slots=True)
class Call(Generic[T]):
    """One request and how to turn its JSON answer into what the method returns."""

    method: str
    path: str
    pick: Callable[[Any], T]
    body: Any = None
    params: dict[str, str] = field(default_factory=dict)
    headers: dict[str, str] = field(default_factory=dict)


def _whole(body: Any) -> Any:
    return body


def _field(name: str) -> Callable[[Any], Any]:
    return lambda body: body[name]


def _segment(value: str) -> str:
    return quote(value, safe="")


def _query(**values: object) -> dict[str, str]:
    return {
        name: str(value).lower() if isinstance(value, bool) else str(value)
        for name, value in values.items()
        if value is not None
    }


class Calls:
    """The calls of the API, with the credentials to send: a per-call key first, else the client's admin key."""

    def __init__(self, admin_key: str | None) -> None:
        self._admin_key = admin_key

    def auth(self, api_key: str | None = None) -> dict[str, str]:
        key = api_key or self._admin_key
        return {"Authorization": f"Bearer {key}"} if key else {}

    def deploy_workflow(
        self,
        workflow: Any,
        name: str,
        description: str | None,
        slug: str | None,
        user_id: str | None,
        options: Mapping[str, Any] | None,
    ) -> Call[DeployedWorkflow]:
        body = {**(options or {}), "name": name, "workflow": workflow}
        body.update(
            {
                key: value
                for key, value in (("description", description), ("slug", slug), ("userId", user_id))
                if value is not None
            }
        )
        return Call("POST", "/api/deploy", _field("deployment"), body, headers=self.auth())

    def get_deployments(self, limit: int | None, offset: int | None, user_id: str | None) -> Call[DeploymentPage]:
        return Call(
            "GET",
            "/api/deployments",
            _whole,
            params=_query(limit=limit, offset=offset, userId=user_id),
            headers=self.auth(),
        )

    def get_deployment_details(self, slug: str) -> Call[WorkflowDetails]:
        return Call("GET", f"/api/workflows/{_segment(slug)}", _field("workflow"))

    def execute_workflow(
        self, slug: str, inputs: Mapping[str, Any], api_key: str, version: int | None, idempotency_key: str | None
    ) -> Call[ExecutionResult]:
        return Call(
            "POST",
            f"/api/workflows/{_segment(slug)}/execute",
            _whole,
            dict(inputs),
            headers=self._run_headers(api_key, version, idempotency_key),
        )

    def start_workflow(
        self, slug: str, inputs: Mapping[str, Any], api_key: str, version: int | None, idempotency_key: str | None
    ) -> Call[RunAccepted]:
        """Async mode: 202 at once with the run's URLs."""
        headers = {**self._run_headers(api_key, version, idempotency_key), "Prefer": "respond-async"}
        return Call("POST", f"/api/workflows/{_segment(slug)}/execute", _whole, dict(inputs), headers=headers)

    def stream_workflow(self, slug: str, inputs: Mapping[str, Any], api_key: str, version: int | None) -> Call[None]:
        headers = {**self._run_headers(api_key, version, None), "Accept": EVENT_STREAM}
        return Call("POST", f"/api/workflows/{_segment(slug)}/execute", _nothing, dict(inputs), headers=headers)

    def _run_headers(self, api_key: str, version: int | None, idempotency_key: str | None) -> dict[str, str]:
        headers = self.auth(api_key)
        if version is not None:
            headers["X-Workflow-Version"] = str(version)
        if idempotency_key is not None:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def undeploy_workflow(self, deployment_id: str, api_key: str | None) -> Call[DeleteResult]:
        return Call("DELETE", f"/api/workflows/{_segment(deployment_id)}", _whole, headers=self.auth(api_key))

    def regenerate_api_key(
        self, deployment_id: str, old_key: str | None, overlap_seconds: int | None
    ) -> Call[RegeneratedKey]:
        body = None if overlap_seconds is None else {"overlapSeconds": overlap_seconds}
        return Call(
            "POST",
            f"/api/workflows/{_segment(deployment_id)}/regenerate-key",
            _field("workflow"),
            body,
            headers=self.auth(old_key),
        )

    def get_executions(
        self, slug: str, api_key: str | None, limit: int | None, offset: int | None, status: str | None
    ) -> Call[ExecutionPage]:
        params = _query(limit=limit, offset=offset, status=status)
        return Call(
            "GET", f"/api/workflows/{_segment(slug)}/executions", _whole, params=params, headers=self.auth(api_key)
        )

    def get_execution(self, execution_id: str, api_key: str | None) -> Call[ExecutionDetail]:
        return Call("GET", f"/api/executions/{_segment(execution_id)}", _field("execution"), headers=self.auth(api_key))

    def cancel_execution(self, execution_id: str, api_key: str | None) -> Call[ExecutionDetail]:
        return Call(
            "POST", f"/api/executions/{_segment(execution_id)}/cancel", _field("execution"), headers=self.auth(api_key)
        )

    def execution_events(self, execution_id: str, api_key: str | None, last_event_id: str | None) -> Call[None]:
        headers = {**self.auth(api_key), "Accept": EVENT_STREAM}
        if last_event_id is not None:
            headers["Last-Event-ID"] = last_event_id
        return Call("GET", f"/api/executions/{_segment(execution_id)}/events", _nothing, headers=headers)

    def get_stats(
        self, slug: str, api_key: str | None, start: str | None, end: str | None, bucket: str | None
    ) -> Call[WorkflowStats]:
        params = _query(**{"from": start, "to": end, "bucket": bucket})
        return Call("GET", f"/api/workflows/{_segment(slug)}/stats", _whole, params=params, headers=self.auth(api_key))

    def create_key(self, slug: str, name: str, expires_at: str | None) -> Call[NewApiKey]:
        body: dict[str, Any] = {"name": name} if expires_at is None else {"name": name, "expiresAt": expires_at}
        return Call("POST", f"/api/workflows/{_segment(slug)}/keys", _field("key"), body, headers=self.auth())

    def list_keys(self, slug: str, limit: int | None, offset: int | None) -> Call[ApiKeyPage]:
        return Call(
            "GET",
            f"/api/workflows/{_segment(slug)}/keys",
            _whole,
            params=_query(limit=limit, offset=offset),
            headers=self.auth(),
        )

    def revoke_key(self, slug: str, key_id: str) -> Call[ApiKey]:
        return Call(
            "DELETE", f"/api/workflows/{_segment(slug)}/keys/{_segment(key_id)}", _field("key"), headers=self.auth()
        )


def _nothing(body: Any) -> None:
    del body


def decoded(status: int, headers: Mapping[str, str], content: bytes) -> Any:
    """The JSON of a successful answer; `ClaraApiError` with the server's code for any other."""
    try:
        body = json.loads(content) if content else None
    except ValueError:
        body = None
    if 200 <= status < 300 and body is not None:
        return body
    raise error_of(status, headers, body, content)


def error_of(status: int, headers: Mapping[str, str], body: Any, content: bytes = b"") -> ClaraApiError:
    retry_after = headers.get("retry-after")
    seconds = float(retry_after) if retry_after and retry_after.replace(".", "", 1).isdigit() else None
    if isinstance(body, dict) and isinstance(body.get("code"), str):
        message = str(body.get("message") or body.get("error") or body["code"])
        return ClaraApiError(body["code"], message, status=status, body=body, retry_after=seconds)
    text = content[:200].decode("utf-8", "replace")
    return ClaraApiError(
        UNEXPECTED_RESPONSE,
        f"The server answered {status} without its JSON: {text}",
        status=status,
        retry_after=seconds,
    )


class EventDecoder:
    """Server-Sent Events, line by line (the `text/event-stream` format): `feed` returns an event when a
    blank line ends one. Data is JSON on this server, decoded; comments (heartbeats) are skipped."""

    def __init__(self) -> None:
        self._id: str | None = None
        self._event = "message"
        self._data: list[str] = []

    def feed(self, line: str) -> RunEvent | None:
        if line == "":
            return self._dispatch()
        if line.startswith(":"):
            return None
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            self._data.append(value)
        elif name == "event":
            self._event = value
        elif name == "id":
            self._id = value
        return None

    def _dispatch(self) -> RunEvent | None:
        if not self._data:
            self._event = "message"
            return None
        text = "\n".join(self._data)
        try:
            data: Any = json.loads(text)
        except ValueError:
            data = text
        event = RunEvent(id=self._id, event=self._event, data=data)
        self._event, self._data = "message", []
        return event


FINAL_EVENTS = frozenset({"run.finished", "run.failed"})
"""The last event of a run's stream."""
