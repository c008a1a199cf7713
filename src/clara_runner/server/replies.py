"""Execute responses as `Reply` values (what idempotency stores and replays) and back into HTTP."""

from __future__ import annotations

from starlette.responses import Response

from clara_runner.errors import ClaraError
from clara_runner.server import presenters
from clara_runner.server.errors import error_response
from clara_runner.service.execution.idempotency import Reply
from clara_runner.service.execution.runs import ExecutionOutcome

JSON = "application/json"


def success_response(outcome: ExecutionOutcome) -> Response:
    return Response(presenters.execution_success(outcome), headers=dict(outcome.headers), media_type=JSON)


def render_execution(result: ExecutionOutcome | ClaraError) -> Reply:
    """The response the caller gets for a run's outcome or the client error it ended with (a success is
    rendered without building a `Response`: every detached run renders one, whether or not anyone reads it)."""
    if isinstance(result, ClaraError):
        response = error_response(result)
        headers = {name: value for name, value in response.headers.items() if name != "content-length"}
        return Reply(response.status_code, bytes(response.body), headers)
    headers = {name.lower(): value for name, value in result.headers.items()}
    headers["content-type"] = JSON
    return Reply(200, presenters.execution_success(result), headers)


def reply_response(reply: Reply) -> Response:
    return Response(reply.body, status_code=reply.status, headers=reply.headers)
