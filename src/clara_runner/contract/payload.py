"""A request body as a value: JSON, or a URL-encoded form (what `curl -d` sends by default).

JSON is read strictly, so that every value a workflow receives can also be stored and returned:
`NaN`, `Infinity` and numbers beyond a double's range are refused (400 `invalid_json_number`), as are
integers longer than Python converts (4,300 digits) and text with an unpaired UTF-16 surrogate escape
(`"\\ud800"`), which no JSON encoder, database or client would accept back (400 `malformed_json`).
Large integers that fit are kept exact.

A large body is parsed a chunk at a time (ijson's C parser, fed from Python between chunks), because
building millions of values in one C call would hold the GIL for a tenth of a second and more, and the
event loop serves every other request meanwhile. Whatever that parser refuses (integers beyond 64 bits,
every malformed body) is parsed again the standard way, which keeps big integers exact and says precisely
what is wrong.
"""

from __future__ import annotations

import json
import math
import re
import sys
from typing import Any, NoReturn
from urllib.parse import parse_qsl

import ijson

from clara_runner.errors import InvalidRequest, MalformedJSON


class InvalidJsonNumber(InvalidRequest):
    """The body holds a number JSON cannot carry: NaN, Infinity, or one out of range."""

    code = "invalid_json_number"
    error = "Invalid JSON number"


_SURROGATE_ESCAPE = re.compile(rb"\\[uU][dD][89a-fA-F][0-9a-fA-F]{2}")
"""A `\\uD800`-`\\uDFFF` escape somewhere in the body: only then can a string hold a surrogate."""
_CHUNKED_PARSE_BYTES = 1024 * 1024
"""Bodies larger than this are parsed a chunk at a time."""
_PARSE_CHUNK_BYTES = 64 * 1024
"""About a millisecond of parsing: the longest the chunked parser holds the GIL at a stretch."""
_CHUNKED_PARSE_MAX_DEPTH = 64
"""The deepest body the chunked parser is given: its memory grows with the square of the nesting depth
(deeper bodies, which the input rules refuse anyway, get the standard parse)."""
_TOO_DEEP_AT_ONCE = re.compile(rb"[\[{]{%d}" % (_CHUNKED_PARSE_MAX_DEPTH + 1))
_NOT_BRACKETS = bytes(byte for byte in range(256) if byte not in b"[]{}")
_chunked_parser = ijson.get_backend("yajl2_c")
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
    surrogates = _SURROGATE_ESCAPE.search(raw) is not None
    if len(raw) > _CHUNKED_PARSE_BYTES and not surrogates and _shallow(raw):
        parsed = _parsed_in_chunks(raw)
        if parsed:
            return parsed[0]
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
    if surrogates and _holds_lone_surrogate(value):
        raise MalformedJSON(
            "Request body holds a \\u escape of half a UTF-16 surrogate pair with no other half; "
            "send the character itself, or both halves"
        )
    return value


def _shallow(raw: bytes) -> bool:
    """True when the body's brackets balance and nest at most `_CHUNKED_PARSE_MAX_DEPTH` deep, told by
    deleting innermost pairs level by level (C-speed passes over the brackets alone). Brackets inside
    strings count too, so a few shallow bodies are judged deep: they only get the standard parse. A run of
    openers too long is seen at once, so that an absurdly deep body costs one pass."""
    brackets = raw.translate(None, _NOT_BRACKETS)
    if _TOO_DEEP_AT_ONCE.search(brackets):
        return False
    for _ in range(_CHUNKED_PARSE_MAX_DEPTH):
        inner_removed = brackets.replace(b"[]", b"").replace(b"{}", b"")
        if len(inner_removed) in (0, len(brackets)):
            return not inner_removed
        brackets = inner_removed
    return False


class _Chunks:
    """A body handed to the chunked parser a piece at a time, through Python code: between two pieces the
    interpreter may switch threads."""

    def __init__(self, raw: bytes) -> None:
        self._view = memoryview(raw)
        self._offset = 0

    def read(self, size: int) -> bytes:
        piece = self._view[self._offset : self._offset + size].tobytes()
        self._offset += len(piece)
        return piece


def _parsed_in_chunks(raw: bytes) -> list[Any]:
    """`[value]` of a body, or `[]` when the chunked parser refuses it (it then gets the standard parse).
    Its refusals are a superset of the standard parser's: it reads no integer beyond 64 bits, and no
    NaN, Infinity or out-of-range float."""
    try:
        values = list(_chunked_parser.items(_Chunks(raw), "", use_float=True, buf_size=_PARSE_CHUNK_BYTES))
    except ijson.JSONError:
        return []
    return values if len(values) == 1 else []
