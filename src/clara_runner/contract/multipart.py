"""Execute bodies sent as `multipart/form-data`: files as parts, other fields as text.

Each part becomes the value the JSON body would have carried for its field, so validation and the
nodes see no difference:
- a file field (its schema has `contentEncoding: base64`) sent as a file part (with a file name or
  a Content-Type) gets the file as a data URL, `data:image/png;name=cat.png;base64,...`: the base64
  bytes with the part's content type and file name, which every file node reads (file-upload
  checks `acceptedTypes` and reports the name from them). A plain part for a file field is taken
  as the base64 or data-URL text itself;
- a field whose schema type is a string gets the part's text (UTF-8);
- any other field (number, boolean, object, array) gets the part's text parsed as JSON, or the text
  itself when it is not JSON, so validation names the field and the type it wanted.

The body was already read under `MAX_INPUT_SIZE` (chunked bodies included) before it gets here.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

from python_multipart.exceptions import MultipartParseError
from python_multipart.multipart import MultipartParser, parse_options_header

from clara_runner.contract.media import is_file_field
from clara_runner.contract.schema import ApiField, value_types
from clara_runner.errors import InvalidRequest

if TYPE_CHECKING:
    from python_multipart.multipart import MultipartCallbacks

MEDIA_TYPE = "multipart/form-data"
MAX_PARTS = 1000
_DEFAULT_MEDIA_TYPE = "application/octet-stream"


class MalformedMultipart(InvalidRequest):
    """The multipart/form-data body cannot be read."""

    code = "malformed_multipart"
    error = "Malformed multipart body"


MAX_BOUNDARY_LENGTH = 70
"""RFC 2046 section 5.1.1: a boundary is 1 to 70 characters."""


def is_multipart(content_type: str | None) -> bool:
    return (content_type or "").split(";", 1)[0].strip().lower() == MEDIA_TYPE


@dataclass
class Part:
    name: str = ""
    filename: str | None = None
    content_type: str | None = None
    data: bytearray = field(default_factory=bytearray)

    @property
    def is_file(self) -> bool:
        """Sent as a file: with a file name, or at least a Content-Type (some clients send only `filename*`)."""
        return self.filename is not None or self.content_type is not None


class _Collector:
    """python-multipart callbacks that gather the parts of a body held in memory."""

    def __init__(self) -> None:
        self.parts: list[Part] = []
        self.ended = False
        self._header_name = bytearray()
        self._header_value = bytearray()

    def callbacks(self) -> MultipartCallbacks:
        return {
            "on_part_begin": self._begin,
            "on_header_field": lambda data, start, end: self._header_name.extend(data[start:end]),
            "on_header_value": lambda data, start, end: self._header_value.extend(data[start:end]),
            "on_header_end": self._header_end,
            "on_part_data": lambda data, start, end: self.parts[-1].data.extend(data[start:end]),
            "on_end": self._end,
        }

    def _begin(self) -> None:
        if len(self.parts) >= MAX_PARTS:
            raise MalformedMultipart(f"The body has more than {MAX_PARTS} parts; send one part per input field")
        self.parts.append(Part())

    def _header_end(self) -> None:
        name = bytes(self._header_name).strip().lower()
        value = bytes(self._header_value)
        self._header_name.clear()
        self._header_value.clear()
        part = self.parts[-1]
        if name == b"content-disposition":
            _, options = parse_options_header(value)
            part.name = _text(options.get(b"name", b""), "a part name")
            filename = options.get(b"filename")
            part.filename = None if filename is None else _text(filename, "a file name")
        elif name == b"content-type":
            part.content_type = _text(value, "a part's Content-Type").strip() or None

    def _end(self) -> None:
        self.ended = True


def _text(raw: bytes, what: str) -> str:
    try:
        return raw.decode()
    except UnicodeDecodeError as exc:
        raise MalformedMultipart(f"{what[0].upper()}{what[1:]} in the multipart body is not valid UTF-8") from exc


def read_parts(raw: bytes, content_type: str | None) -> list[Part]:
    """The parts of a complete multipart body; `MalformedMultipart` when it is not one."""
    _, options = parse_options_header(content_type)
    boundary = options.get(b"boundary")
    if not boundary:
        raise MalformedMultipart(
            "Content-Type multipart/form-data needs a boundary parameter; let your HTTP client set the header "
            "(curl -F, requests files=, FormData) instead of writing it by hand"
        )
    if len(boundary) > MAX_BOUNDARY_LENGTH:
        raise MalformedMultipart(
            f"The multipart boundary is {len(boundary)} characters long; RFC 2046 allows at most {MAX_BOUNDARY_LENGTH}"
        )
    collector = _Collector()
    try:
        parser = MultipartParser(boundary, collector.callbacks())
        parser.write(raw)
        parser.finalize()
    except MultipartParseError as exc:
        raise MalformedMultipart(f"The multipart body is malformed: {exc}") from exc
    if not collector.ended:
        raise MalformedMultipart("The multipart body ends before its closing boundary; the upload may be truncated")
    return collector.parts


def parse_multipart(raw: bytes, content_type: str | None, fields: Iterable[ApiField]) -> dict[str, Any]:
    """The request body as the JSON object the same inputs would have been sent as."""
    if not raw.strip():
        return {}
    schemas = {api_field.name: api_field.schema for api_field in fields}
    payload: dict[str, Any] = {}
    for part in read_parts(raw, content_type):
        if not part.name:
            raise MalformedMultipart('Every part needs a name: Content-Disposition: form-data; name="<field>"')
        if part.name in payload:
            raise MalformedMultipart(f"Field '{part.name}' appears more than once; send each input field once")
        payload[part.name] = _value(part, schemas.get(part.name, {}))
    return payload


def _value(part: Part, schema: Mapping[str, Any]) -> Any:
    if is_file_field(schema) and part.is_file:
        return _data_url(part, schema)
    try:
        text = bytes(part.data).decode()
    except UnicodeDecodeError as exc:
        raise MalformedMultipart(
            f"Field '{part.name}' is not valid UTF-8 text; only file fields accept binary content"
        ) from exc
    if _wants_text(schema):
        return text
    try:
        return json.loads(text)
    except (json.JSONDecodeError, RecursionError):
        return text


def _wants_text(schema: Mapping[str, Any]) -> bool:
    types = value_types(schema)
    return types is None or "string" in types


def _data_url(part: Part, schema: Mapping[str, Any]) -> str:
    """`data:<type>[;name=<file name>];base64,<bytes>`, the form JSON clients send files in."""
    params = [_media_type(part, schema)]
    if part.filename:
        params.append("name=" + quote(part.filename, safe=""))
    return f"data:{';'.join(params)};base64,{base64.b64encode(part.data).decode('ascii')}"


def _media_type(part: Part, schema: Mapping[str, Any]) -> str:
    """The part's own content type; the field's when the part names none or a generic one."""
    declared = (part.content_type or "").split(";", 1)[0].strip().lower()
    if declared and declared != _DEFAULT_MEDIA_TYPE:
        return declared
    media_type = str(schema.get("contentMediaType", _DEFAULT_MEDIA_TYPE))
    return media_type if "*" not in media_type and "," not in media_type else _DEFAULT_MEDIA_TYPE
