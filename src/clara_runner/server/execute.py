"""`POST /api/workflows/{slug}/execute`, the hot path: served past FastAPI (`fast_lane.py`), and
documented in the management API's OpenAPI document (`openapi.py`) from `EXECUTE_DOCUMENTATION`."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Mapping
from typing import Any

import orjson
from starlette.requests import Request
from starlette.responses import Response

from clara_runner import jsonio
from clara_runner.clock import iso_now
from clara_runner.contract.runs import MODE_PARAMETERS, MODES_DESCRIPTION
from clara_runner.runtime.services import Runtime
from clara_runner.server import presenters
from clara_runner.server.bodies import read_limited
from clara_runner.server.deps import checked_slug, links, runtime
from clara_runner.server.event_stream import event_stream
from clara_runner.server.presenters import Links
from clara_runner.server.replies import JSON, render_execution, reply_response, success_response
from clara_runner.server.run_modes import RunMode, requested_mode
from clara_runner.server.schemas import DEPLOYMENT_KEY, ExecutionResult, RunAccepted, errors, ok
from clara_runner.service.deployments.slugs import MAX_SLUG_LENGTH, SLUG_PATTERN
from clara_runner.service.deployments.versions import VERSION_HEADER
from clara_runner.service.execution.admission import Admission
from clara_runner.service.execution.idempotency import Produce, Reply
from clara_runner.service.execution.queued import QueuedRuns
from clara_runner.service.execution.runs import ReceivedRequest

PATH = "/api/workflows/{slug}/execute"


async def execute(request: Request) -> Response:
    state = runtime(request)
    limit = state.settings.max_input_size

    async def read_body() -> bytes:
        return await read_limited(request, limit)

    async def until_disconnected() -> None:
        while (await request.receive())["type"] != "http.disconnect":
            pass

    headers = request.headers
    mode = requested_mode(request.query_params, headers, state.settings.max_execution_seconds)
    slug = checked_slug(request.path_params["slug"])
    authorization = headers.get("authorization")
    content_type = headers.get("content-type")
    version_header = headers.get(VERSION_HEADER)
    idempotency_key = headers.get("idempotency-key")
    callback_url = request.query_params.get("callbackUrl")
    if not mode.detached and idempotency_key is None and callback_url is None and state.queued is None:
        return success_response(
            await state.executions.execute(
                slug, authorization, read_body, content_type, version_header, until_disconnected
            )
        )
    produce = _producer(state, mode, links(request), callback_url)
    if idempotency_key is not None:
        reply = await state.idempotent.execute(
            slug,
            authorization,
            read_body,
            content_type,
            version_header,
            None if mode.detached else until_disconnected,
            key=idempotency_key,
            produce=produce,
            render=render_execution,
        )
    else:
        admission = await state.executions.admit(slug, authorization)
        with admission.stamped():
            received = await ReceivedRequest.receive(
                read_body, content_type, version_header, None if mode.detached else until_disconnected
            )
            reply = await produce(admission, received)
    if mode.name == "stream" and reply.status == 202:
        execution_id = uuid.UUID(orjson.loads(reply.body)["executionId"])
        followed = await state.run_resources.follow(execution_id, after=0)
        return event_stream(followed, state.settings.sse_heartbeat_seconds, _stream_headers(reply.headers))
    return reply_response(reply)


def _producer(state: Runtime, mode: RunMode, links: Links, callback_url: str | None) -> Produce:
    """How an admitted request of this mode becomes its response (what idempotency stores and replays)."""

    async def produce(admission: Admission, received: ReceivedRequest) -> Reply:
        received.callback_url = callback_url
        if state.queued is not None:
            return await _queued(state.queued, admission, received, mode, links)
        if not mode.detached:
            return render_execution(await state.executions.run(admission, received))
        handle = await state.detached.start(admission, received)
        if mode.name == "wait":
            await asyncio.wait((handle.task,), timeout=mode.wait_seconds)
            if handle.task.done():
                return _with_preference(handle.task.result(), mode)
        return _accepted(admission, handle.execution_id, handle.version, mode, links)

    return produce


async def _queued(
    queued: QueuedRuns, admission: Admission, received: ReceivedRequest, mode: RunMode, links: Links
) -> Reply:
    """`produce` on the queue backend: the same replies, from a worker's run (`service/execution/queued.py`)."""
    if not mode.detached:
        return await queued.run(admission, received)
    started = await queued.start(admission, received, mode.name)
    if isinstance(started, Reply):
        return started
    if mode.name == "wait":
        reply = await queued.wait(admission, started.execution_id, mode.wait_seconds)
        if reply is not None:
            return _with_preference(reply, mode)
    return _accepted(admission, started.execution_id, started.version, mode, links, started.status)


def _accepted(
    admission: Admission, execution_id: uuid.UUID, version: int, mode: RunMode, links: Links, status: str = "running"
) -> Reply:
    """202: the run goes on without the caller, at its resource."""
    body = presenters.run_accepted(execution_id, version, links, iso_now(), status)
    headers = {**admission.headers, "Location": links.execution(execution_id), "content-type": JSON}
    return _with_preference(Reply(202, jsonio.dumps(body), headers), mode)


def _with_preference(reply: Reply, mode: RunMode) -> Reply:
    if mode.applied is None:
        return reply
    return Reply(reply.status, reply.body, {**reply.headers, "Preference-Applied": mode.applied})


def _stream_headers(headers: Mapping[str, str]) -> dict[str, str]:
    """The 202's headers that still mean something on the stream (quota, where the run lives)."""
    return {name: value for name, value in headers.items() if name.lower() not in ("content-type", "content-length")}


EXECUTE_DOCUMENTATION: dict[str, Any] = {
    "summary": "Execute the workflow (API key required)",
    "tags": ["Workflows"],
    "response_model": None,
    "openapi_extra": {
        **DEPLOYMENT_KEY,
        "parameters": [
            {
                "name": "slug",
                "in": "path",
                "required": True,
                "description": "The deployment's slug",
                "schema": {"type": "string", "pattern": SLUG_PATTERN.pattern, "maxLength": MAX_SLUG_LENGTH},
            },
            *MODE_PARAMETERS,
        ],
        "description": "Runs the workflow with the body's inputs. The workflow's own document "
        "(GET /api/workflows/{slug}/schema) describes its exact input and output fields. " + MODES_DESCRIPTION,
        "requestBody": {
            "required": False,
            "description": "An empty body counts as `{}`",
            "content": {"application/json": {"schema": {"type": "object", "description": "One field per input"}}},
        },
    },
    "responses": {
        200: {
            "model": ExecutionResult,
            "description": "The workflow ran (sync, or wait mode within its time); in stream mode, its events",
            "content": {"text/event-stream": {"schema": {"type": "string"}}},
        },
        **ok(RunAccepted, "The run goes on without the caller (async, or wait mode past its time)", 202),
        **errors(400, 401, 403, 404, 409, 413, 422, 429, 500, 502, 503, 504),
    },
}
"""How the management document describes this route (FastAPI never routes it, so it cannot read it off)."""
