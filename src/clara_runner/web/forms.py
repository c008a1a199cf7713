"""The deploy dialog's form as the deploy body the API takes (`POST /api/deploy`, `PUT /api/workflows/{slug}`)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from starlette.datastructures import UploadFile

from clara_runner.web.visitor import form


class FormProblem(Exception):
    """The form itself cannot be read as a deploy body (the workflow is not JSON, say)."""


async def deploy_body(request: Request) -> dict[str, Any]:
    """`{"name", "slug", "description", "workflow"}` from the dialog: the workflow pasted or dropped into
    the text area, or a file picked (sent as a file part when the page's script is off)."""
    fields = await form(request)
    text = _text(fields.get("workflow"))
    upload = fields.get("workflowFile")
    if isinstance(upload, UploadFile) and upload.filename:
        text = (await upload.read()).decode("utf-8", errors="replace")
    body: dict[str, Any] = {key: value for key in ("name", "slug", "description") if (value := _text(fields.get(key)))}
    if not text:
        return body
    try:
        body["workflow"] = json.loads(text)
    except json.JSONDecodeError as exc:
        raise FormProblem(
            f"The workflow is not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg}); "
            "paste or pick an Agent Studio export"
        ) from exc
    return body


def _text(value: str | UploadFile | None) -> str:
    return value.strip() if isinstance(value, str) else ""
