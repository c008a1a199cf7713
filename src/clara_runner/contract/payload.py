"""A request body as a value: JSON, or a URL-encoded form (what `curl -d` sends by default).

JSON is read strictly, so that every value a workflow receives can also be stored and returned:
`NaN`, `Infinity` and numbers beyond a double's range are refused (400 `invalid_json_number`), as are
integers longer than Python converts (4,300 digits) and text with an unpaired UTF-16 surrogate escape
(`"\\ud800"`), which no JSON encoder, database or client would accept back (400 `malformed_json`).
Large integers that fit are kept exact.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, NoReturn
from urllib.parse import parse_qsl

from clara_runner.errors import InvalidRequest, MalformedJSON


class InvalidJsonNumber(InvalidRequest):
    """The body holds a number JSON cannot carry: NaN, Infinity, or one out of range."""

    code = "invalid_json_number"
    error = "Invalid JSON number"


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}")
"""A `\\uD800`-`\\uDFFF` escape somewhere in the body: only then can a string hold a surrogate."""
_LONE_SURROGATE = re.compile("[\ud800-\udbff](?![\udc00-\udfff])|(?<![\ud800-\udbff])[\udc00-\udfff]")


def _refuse_constant(name: str) -> NoReturn:
    raise InvalidJsonNumber(f"The body holds {name}, which JSON does not allow; send a number or null")


def _finite(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise InvalidJsonNumber(f"The number {text[:40]} is out of range; send one a 64-bit float can hold")
    return value


def _holds_lone_surrogate(value: Any) -> bool:
    """True when a string of `value` (keys included) holds half a surrogate pair."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if _LONE_SURROGATE.search(item):
                return True
        elif isinstance(item, dict):
            stack.extend(item)
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return False


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
        value = json.loads(raw, parse_constant=_refuse_constant, parse_float=_finite)
    except RecursionError as exc:
        raise MalformedJSON("Request body is nested too deeply to parse") from exc
    except UnicodeDecodeError as exc:
        raise MalformedJSON("Request body is not valid UTF-8 text") from exc
    except json.JSONDecodeError as exc:
        raise MalformedJSON(
            f"Request body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc
    except ValueError as exc:
        raise InvalidJsonNumber(
            f"The body holds an integer of more than {sys.get_int_max_str_digits()} digits; send it as a string"
        ) from exc
    if _SURROGATE_ESCAPE.search(raw) and _holds_lone_surrogate(value):
        raise MalformedJSON(
            "Request body holds a \\u escape of half a UTF-16 surrogate pair with no other half; "
            "send the character itself, or both halves"
        )
    return value
