"""How a deployment's document describes runs that outlive one request-response: execute's modes, the
202 body, the event stream, the run resources (`/api/executions/{id}`) and the webhook payload.

The contract layer does no I/O and knows no server, so the shapes are written here as JSON Schemas and
the server's mode parsing (`server/run_modes.py`) takes its query modes and parameter documentation
from this module: the parameters a document names are the ones the server reads. The shapes
themselves are held to real responses by the tests (`tests/server/test_modes_contract.py` validates
every mode's answer, each event's data and the run resources against the published document).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

EVENT_STREAM: Final = "text/event-stream"
QUERY_MODES: Final = ("sync", "stream", "async")
"""The values of `?mode=` (wait is asked for with `Prefer: wait=N` only: it needs a number)."""

MODES_DESCRIPTION: Final = (
    "Modes: sync (default) answers the result; stream (`Accept: text/event-stream` or `?stream=true`) answers "
    "Server-Sent Events, the sync body last as `run.finished`; async (`Prefer: respond-async` or `?mode=async`) "
    "answers 202 at once with the run's URLs; `Prefer: wait=N` answers the result if the run ends within N "
    "seconds (at most MAX_EXECUTION_TIME), else 202 as async."
)
MODE_PARAMETERS: Final[tuple[Mapping[str, Any], ...]] = (
    {
        "name": "mode",
        "in": "query",
        "required": False,
        "description": "sync (default), stream or async",
        "schema": {"type": "string", "enum": list(QUERY_MODES)},
    },
    {
        "name": "stream",
        "in": "query",
        "required": False,
        "description": "true: the same as mode=stream",
        "schema": {"type": "boolean"},
    },
    {
        "name": "Prefer",
        "in": "header",
        "required": False,
        "description": "`respond-async` (async mode) and/or `wait=N` (wait up to N seconds, then 202)",
        "schema": {"type": "string"},
    },
)
CALLBACK_URL_PARAMETER: Final[Mapping[str, Any]] = {
    "name": "callbackUrl",
    "in": "query",
    "required": False,
    "description": "When the deployment allows it (the admin's `allowCallbackUrl` option): when this run ends, "
    "whatever its outcome, the `runFinished` webhook payload is POSTed to this absolute http(s) URL, signed "
    "with the deployment's callback secret. Refused before anything runs otherwise: 403 "
    "`callbacks_not_allowed`, or 400 `invalid_callback_url`.",
    "schema": {"type": "string", "format": "uri", "maxLength": 2048},
}

_NODE_STATUS = ["success", "skipped", "error", "timeout", "cancelled"]
_RUN_STATUS = ["queued", "running", "success", "error", "timeout", "cancelled", "interrupted"]
_FINAL_STATUS = [status for status in _RUN_STATUS if status not in ("queued", "running")]


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _nullable(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"anyOf": [dict(schema), {"type": "null"}]}


def _closed(required: list[str], properties: Mapping[str, Any], description: str) -> dict[str, Any]:
    return {
        "type": "object",
        "description": description,
        "required": required,
        "additionalProperties": False,
        "properties": dict(properties),
    }


_UUID: Final = {"type": "string", "format": "uuid"}
_TIME: Final = {"type": "string", "format": "date-time"}
_NODE_ID: Final = {"type": "string", "description": "The node's id in the workflow"}
_NODE_TYPE: Final = {"type": "string", "description": "The node's type", "examples": ["llm"]}
_STARTED_AT: Final = {"type": "string", "format": "date-time", "description": "When the node started (UTC)"}
_COUNT: Final = {"type": "integer", "minimum": 0}
_TOKENS: Final = _closed(
    ["promptTokens", "completionTokens", "totalTokens"],
    {"promptTokens": _COUNT, "completionTokens": _COUNT, "totalTokens": _COUNT},
    "Tokens spent, as the LLM providers reported them",
)

EVENTS: Final[tuple[tuple[str, str, str], ...]] = (
    ("run.started", "RunStartedEvent", "first: the run holds its execution slot and its record is stored"),
    ("node.started", "NodeStartedEvent", "a node began"),
    ("node.finished", "NodeEvent", "a node succeeded (`status` success)"),
    ("node.skipped", "NodeEvent", "a node did not run: its branch was not taken (`status` skipped)"),
    ("node.failed", "NodeEvent", "a node failed, timed out or was cancelled (`status` error, timeout, cancelled)"),
    ("llm.token", "LlmTokenEvent", "text a streaming `llm` or `structured-llm` node received"),
    ("run.finished", "ExecutionResult", "last, on success: byte for byte the synchronous 200 body"),
    ("run.failed", "Error", "last, on failure: the error body the synchronous call would have answered"),
)
"""Every event of a run's stream: name, the component schema of its data, when it is sent."""


def event_schemas() -> dict[str, Any]:
    """The data of the events that are not a response body already (`run.finished`, `run.failed`)."""
    return {
        "RunStartedEvent": _closed(
            ["executionId", "version"],
            {"executionId": _UUID, "version": {"type": "integer", "minimum": 1, "description": "The version running"}},
            "`run.started`: the run's id (the same as `executionId` of its result) and version",
        ),
        "NodeStartedEvent": _closed(
            ["nodeId", "type", "startedAt"],
            {"nodeId": _NODE_ID, "type": _NODE_TYPE, "startedAt": _STARTED_AT},
            "`node.started`",
        ),
        "NodeEvent": _closed(
            ["nodeId", "type", "status", "startedAt", "durationMs"],
            {
                "nodeId": _NODE_ID,
                "type": _NODE_TYPE,
                "status": {"type": "string", "enum": _NODE_STATUS},
                "startedAt": _STARTED_AT,
                "durationMs": {"type": "number", "minimum": 0},
                "error": {"type": "string", "description": "Why the node failed (secrets redacted)"},
                "usage": {**_TOKENS, "description": "The tokens an LLM node reported spending, when it did"},
            },
            "`node.finished`, `node.skipped`, `node.failed`: one entry of the execution's trace. Node values "
            "(inputs, outputs) are never sent; only the run's result is.",
        ),
        "LlmTokenEvent": _closed(
            ["nodeId", "delta"],
            {
                "nodeId": _NODE_ID,
                "delta": {"type": "string", "description": "The text received since the previous token event"},
            },
            "`llm.token`: tokens that arrive together are sent as one delta",
        ),
    }


def event_stream_media(sample: str) -> dict[str, Any]:
    """The `text/event-stream` media type: `schema` describes one event, as OpenAPI 3.2's `itemSchema` does.

    Each event is `{id, event, data}` (its SSE fields), and which JSON `data` holds depends on `event`:
    one `oneOf` branch per event name, with `contentMediaType`/`contentSchema` naming the data's schema,
    which is how OpenAPI 3.2 describes SSE and how validators that read streams (schemathesis) check each
    event. `x-events` repeats the names with their data schemas for readers that want a plain map, and
    the description lists them with `sample`, a stream as the server sends it.
    """
    lines = "\n".join(f"- `{name}` ({schema}): {when}" for name, schema, when in EVENTS)
    description = (
        "Server-Sent Events, described one event at a time: `id` (1, 2, 3, ...), `event` (its name) and `data` "
        "(one line of JSON). Comment lines (`:`) are heartbeats, one every SSE_HEARTBEAT_SECONDS. "
        "The stream ends after `run.finished` or `run.failed`. The events and the schema of their data:"
        "\n\n" + lines + "\n\nSend the last id you got as `Last-Event-ID` to GET the run's `eventsUrl` to resume "
        "after it. A stream (the server separates lines with CRLF):\n\n```\n" + sample + "```"
    )
    branches = [
        {
            "required": ["event"],
            "properties": {
                "event": {"const": name},
                "data": {"contentMediaType": "application/json", "contentSchema": ref(schema)},
            },
        }
        for name, schema, _ in EVENTS
    ]
    return {
        "schema": {
            "type": "object",
            "description": description,
            "required": ["id", "event", "data"],
            "properties": {
                "id": {"type": "string", "pattern": "^[0-9]+$"},
                "event": {"type": "string", "enum": [name for name, _, _ in EVENTS]},
                "data": {"type": "string"},
            },
            "oneOf": branches,
        },
        "x-events": event_refs(),
    }


def event_refs() -> dict[str, Any]:
    """`x-events`: each event name with its data schema, for tools that read them."""
    return {name: ref(schema) for name, schema, _ in EVENTS}


def run_accepted_schema() -> dict[str, Any]:
    return _closed(
        ["success", "executionId", "status", "version", "statusUrl", "eventsUrl", "cancelUrl", "timestamp"],
        {
            "success": {"const": True},
            "executionId": _UUID,
            "status": {
                "enum": ["running", "queued"],
                "description": "`queued` when the run waits for a worker (queue backend), else `running`",
            },
            "version": {"type": "integer", "minimum": 1, "description": "The version running"},
            "statusUrl": {
                "type": "string",
                "format": "uri",
                "description": "GET it for the run's status and, once finished, its outputs (also `Location`)",
            },
            "eventsUrl": {
                "type": "string",
                "format": "uri",
                "description": "GET it for the run's Server-Sent Events, from the start or after Last-Event-ID",
            },
            "cancelUrl": {"type": "string", "format": "uri", "description": "POST to it to cancel the run"},
            "timestamp": _TIME,
        },
        "The run goes on without the caller (async mode, or wait mode past its time): where to follow it",
    )


def execution_schemas() -> dict[str, Any]:
    """`Execution` (GET and cancel of `/api/executions/{id}`) with its outputs typed by `Output`."""
    detail = _closed(
        [
            "id",
            "status",
            "version",
            "inputs",
            "outputs",
            "error",
            "errorCode",
            "duration",
            "durationMs",
            "nodesExecuted",
            "usage",
            "cost",
            "trace",
            "createdAt",
            "finishedAt",
            "workflowId",
            "eventsUrl",
        ],
        {
            "id": _UUID,
            "status": {
                "type": "string",
                "enum": _RUN_STATUS,
                "description": "queued or running until the run ends; then success, error, timeout, cancelled "
                "or interrupted",
            },
            "version": {"type": "integer", "minimum": 1},
            "inputs": {"description": "The inputs as recorded; null if the body was never read"},
            "outputs": {
                **_nullable(ref("Output")),
                "description": "The outputs as recorded, once the run succeeded; else null",
            },
            "error": {"type": ["string", "null"], "description": "Why the run failed"},
            "errorCode": {"type": ["string", "null"], "description": "The error's `code`, e.g. run_cancelled"},
            "duration": {"type": ["string", "null"], "examples": ["45ms"]},
            "durationMs": {"type": ["integer", "null"], "minimum": 0},
            "nodesExecuted": {"type": "integer", "minimum": 0},
            "usage": {
                **_nullable(_TOKENS),
                "description": "Tokens the run's nodes reported spending, summed; null when none reported any",
            },
            "cost": {
                "type": ["number", "null"],
                "minimum": 0,
                "description": "What the run's LLM calls cost by the operator's price table, in its currency; null "
                "when the server has none or no call's model is in it",
            },
            "trace": {
                "type": ["array", "null"],
                "description": "One entry per finished node (the data of its node event), and an `output-check` entry "
                "when the outputs broke the output schema",
                "items": {"type": "object"},
            },
            "createdAt": _TIME,
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
            "workflowId": _UUID,
            "eventsUrl": {
                "type": "string",
                "format": "uri",
                "description": "The run's events (only runs started in stream, async or wait mode keep them)",
            },
        },
        "One execution of this deployment",
    )
    return {
        "Execution": _closed(
            ["success", "execution"],
            {"success": {"const": True}, "execution": ref("ExecutionDetail")},
            "A run as recorded",
        ),
        "ExecutionDetail": detail,
    }


def webhook_payload_schema() -> dict[str, Any]:
    error = _closed(
        ["code", "message"],
        {"code": {"type": ["string", "null"]}, "message": {"type": ["string", "null"]}},
        "Why the run failed",
    )
    data = _closed(
        [
            "executionId",
            "workflow",
            "status",
            "version",
            "outputs",
            "error",
            "durationMs",
            "createdAt",
            "finishedAt",
        ],
        {
            "executionId": _UUID,
            "workflow": _closed(["id", "slug"], {"id": _UUID, "slug": {"type": "string"}}, "The deployment"),
            "status": {"type": "string", "enum": _FINAL_STATUS},
            "version": {"type": "integer", "minimum": 1},
            "outputs": {
                **_nullable(ref("Output")),
                "description": "The outputs as recorded, for a successful run; else null",
            },
            "error": {**_nullable(error), "description": "null for a successful run"},
            "durationMs": {"type": ["integer", "null"], "minimum": 0},
            "createdAt": _TIME,
            "finishedAt": {"type": ["string", "null"], "format": "date-time"},
        },
        "The run, as its execution record holds it",
    )
    return _closed(
        ["type", "timestamp", "data"],
        {
            "type": {
                "type": "string",
                "enum": ["run.succeeded", "run.failed"],
                "description": "run.succeeded for status success; run.failed for every other final status",
            },
            "timestamp": {**_TIME, "description": "When the run finished"},
            "data": data,
        },
        "What a webhook endpoint (or a run's callbackUrl) receives when a run of this deployment ends",
    )


WEBHOOK_HEADERS: Final[tuple[tuple[str, str, str], ...]] = (
    ("webhook-id", "The delivery's id: the same on every retry, so drop ids you have already handled", "msg_1"),
    ("webhook-timestamp", "Unix seconds of this attempt", "1735732800"),
    (
        "webhook-signature",
        "`v1,` and the base64 HMAC-SHA256 of `{webhook-id}.{webhook-timestamp}.{raw body}`, keyed by the "
        "base64-decoded secret after `whsec_` (Standard Webhooks)",
        "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
    ),
)
