"""A request body as a value: JSON, or a URL-encoded form (what `curl -d` sends by default)."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import parse_qsl

from clara_runner.errors import MalformedJSON


def parse_payload(raw: bytes, content_type: str | None) -> Any:
    if not raw.strip():
        return {}
    media_type = (content_type or "").split(";", 1)[0].strip().lower()
    if media_type == "application/x-www-form-urlencoded" and raw.lstrip()[:1] not in (b"{", b"["):
        try:
            return dict(parse_qsl(raw.decode(), keep_blank_values=True, strict_parsing=True))
        except (UnicodeDecodeError, ValueError) as exc:
            raise MalformedJSON(f"Request body is neither JSON nor a valid form: {exc}") from exc
    try:
        return json.loads(raw)
    except RecursionError as exc:
        raise MalformedJSON("Request body is nested too deeply to parse") from exc
    except UnicodeDecodeError as exc:
        raise MalformedJSON("Request body is not valid UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
