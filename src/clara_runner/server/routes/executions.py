"""One run as a resource: its record, its event stream, and cancelling it (`service/execution/run_resources.py`)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Header, Path, Query, Request, Response
from sse_starlette import EventSourceResponse

from clara_runner.errors import InvalidParameter
from clara_runner.server import presenters
from clara_runner.server.deps import checked_id, client_host, links, runtime
from clara_runner.server.event_stream import event_stream
from clara_runner.server.schemas import KEY_OR_ADMIN, ExecutionResponse, errors, ok
from clara_runner.store.tables import UNFINISHED

router = APIRouter(tags=["Executions"])

ExecutionIdPath = Annotated[str, Path(description="The execution id (`executionId` of the execute response)")]

_EVENTS_DESCRIPTION = (
    "Server-Sent Events of a run started in stream, async or wait mode: `run.started`, `node.started`, "
    "`node.finished` / `node.failed` / `node.skipped`, `llm.token`, and last `run.finished` (data: the "
    "synchronous response body) or `run.failed` (data: the error envelope). Every event has an `id`; "
    "send the last one you got as `Last-Event-ID` (or `?lastEventId=`) to resume after it. The stream "
    "replays the run's stored events, then follows it live until its last event."
)


@router.get(
    "/api/executions/{execution_id}",
    summary="One execution: status, inputs, outputs, trace (its deployment's API key, or the admin)",
    description="The execution as recorded: `running` while it goes on, then its final status with its outputs "
    "or error and its per-node trace.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={**ok(ExecutionResponse, "The execution as recorded"), **errors(400, 401, 404, 503)},
)
async def execution(request: Request, execution_id: ExecutionIdPath) -> dict[str, Any]:
    state = runtime(request)
    record = await state.run_resources.get(
        checked_id(execution_id), request.headers.get("authorization"), client_host(request)
    )
    return presenters.execution_detail(record, links(request))


@router.get(
    "/api/executions/{execution_id}/events",
    summary="The execution's events as Server-Sent Events (its deployment's API key, or the admin)",
    description=_EVENTS_DESCRIPTION,
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    response_class=EventSourceResponse,
    responses={
        200: {"description": "The event stream", "content": {"text/event-stream": {"schema": {"type": "string"}}}},
        **errors(400, 401, 404, 503),
    },
)
async def events(
    request: Request,
    execution_id: ExecutionIdPath,
    last_event_id: Annotated[str | None, Header(description="Resume after this event id")] = None,
    last_event_id_query: Annotated[
        str | None, Query(alias="lastEventId", description="Resume after this event id (for clients without headers)")
    ] = None,
) -> EventSourceResponse:
    state = runtime(request)
    followed = await state.run_resources.events(
        checked_id(execution_id),
        request.headers.get("authorization"),
        client_host(request),
        _event_id(last_event_id if last_event_id is not None else last_event_id_query),
    )
    return event_stream(followed, state.settings.sse_heartbeat_seconds)


@router.post(
    "/api/executions/{execution_id}/cancel",
    summary="Cancel a running execution (its deployment's API key, or the admin)",
    description="Stops a run in progress and records it `cancelled`, whichever server process runs it (another "
    "process stops it within about half a second); 202 if the run is still unfinished after 5 s.",
    openapi_extra=KEY_OR_ADMIN,
    response_model=None,
    responses={
        **ok(ExecutionResponse, "The execution as recorded after the cancel"),
        **ok(ExecutionResponse, "The cancel is recorded; the run's process has not stopped it yet", 202),
        **errors(400, 401, 404, 409, 503),
    },
)
async def cancel(request: Request, response: Response, execution_id: ExecutionIdPath) -> dict[str, Any]:
    state = runtime(request)
    record = await state.run_resources.cancel(
        checked_id(execution_id), request.headers.get("authorization"), client_host(request)
    )
    if record.status in UNFINISHED:
        response.status_code = 202
    return presenters.execution_detail(record, links(request))


def _event_id(value: str | None) -> int:
    if value is None or value == "":
        return 0
    if not (value.isascii() and value.isdigit() and len(value) <= 9):
        raise InvalidParameter("Last-Event-ID must be the id of an event of this stream (a whole number)")
    return int(value)
