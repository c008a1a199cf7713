"""Files as they travel in JSON: base64 strings, data URLs and byte arrays, decoded, capped and identified.

Every file-carrying node (the API file inputs, the audio nodes) receives its file in one of the shapes
Agent Studio produces: raw base64, a `data:` URL, an array of byte values (`file-upload` with
`outputFormat: binary`), or an object holding one of those (`{content: ...}`, `{base64: ...}`).
This module turns all of them into bytes, refusing what is not a file with a message that says what
is wrong, and identifies the real media type from the bytes rather than trusting a declared one.

The signatures are a short table of our own: the only library that does this in pure Python
(puremagic) needs Python 3.12 from its 2.x line on, and its 1.x line names common audio types
inconsistently (`audio/wave`, an empty string for ID3-tagged MP3).
"""

from __future__ import annotations

import base64
import binascii
import mimetypes
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, unquote_to_bytes

from clara_runner.flow.errors import NodeError

MB = 1024 * 1024

_DATA_URL = re.compile(r"^data:(?P<meta>[^,]*?),(?P<data>.*)$", re.DOTALL)
_WHITESPACE = re.compile(r"\s+")
_BASE64_ALPHABET = re.compile(r"^[A-Za-z0-9+/_-]*={0,2}$")

_ALIASES = {
    "audio/x-wav": "audio/wav",
    "audio/wave": "audio/wav",
    "audio/vnd.wave": "audio/wav",
    "audio/mp3": "audio/mpeg",
    "audio/x-mp3": "audio/mpeg",
    "audio/x-flac": "audio/flac",
    "audio/x-m4a": "audio/mp4",
    "audio/m4a": "audio/mp4",
    "image/jpg": "image/jpeg",
    "image/pjpeg": "image/jpeg",
    "application/x-pdf": "application/pdf",
}
_TEXTUAL = ("application/json", "application/xml", "application/javascript", "application/x-yaml", "image/svg+xml")
_EXTENSIONS = {
    "audio/wav": "wav",
    "audio/mpeg": "mp3",
    "audio/flac": "flac",
    "audio/ogg": "ogg",
    "audio/mp4": "m4a",
    "audio/aac": "aac",
    "audio/webm": "webm",
    "video/webm": "webm",
    "video/mp4": "mp4",
    "text/plain": "txt",
    "text/markdown": "md",
    "application/pdf": "pdf",
    "image/png": "png",
    "image/jpeg": "jpg",
}


@dataclass(frozen=True, slots=True)
class Payload:
    """A decoded file: its bytes, the media type the sender declared (if any) and a file name (if given)."""

    data: bytes
    declared_type: str = ""
    name: str = ""

    @property
    def size(self) -> int:
        return len(self.data)

    def media_type(self) -> str:
        """The real media type: sniffed from the bytes, else the declared one, else a generic one."""
        return sniff(self.data) or normalise_type(self.declared_type) or "application/octet-stream"


def normalise_type(media_type: str) -> str:
    """`media_type` lower-cased, without parameters, with common aliases (`audio/x-wav`) folded."""
    bare = media_type.split(";", 1)[0].strip().lower()
    return _ALIASES.get(bare, bare)


def is_textual(media_type: str) -> bool:
    return media_type.startswith("text/") or media_type in _TEXTUAL or media_type.endswith(("+json", "+xml"))


def extension_for(media_type: str, fallback: str) -> str:
    """A file extension (without the dot) for `media_type`, or `fallback` when none is known."""
    return _EXTENSIONS.get(normalise_type(media_type), fallback)


def decode(value: Any, what: str, max_bytes: int) -> Payload:
    """The file carried by `value`, at most `max_bytes` long; raises `NodeError` saying what is wrong.

    `what` names the value in messages ("the image", "audioData").
    """
    if isinstance(value, str):
        return _decode_text(value, what, max_bytes)
    if isinstance(value, list):
        return Payload(_from_byte_array(value, what, max_bytes))
    if isinstance(value, Mapping):
        for key in ("content", "base64", "data", "dataUrl"):
            if key in value and value[key] is not None:
                inner = decode(value[key], what, max_bytes)
                declared, name = value.get("type"), value.get("name")
                return Payload(
                    inner.data,
                    inner.declared_type or (declared if isinstance(declared, str) else ""),
                    inner.name or (name if isinstance(name, str) else ""),
                )
        raise NodeError(f"{what} is an object without a 'content' or 'base64' field holding the file")
    kind = "nothing" if value is None else type(value).__name__
    raise NodeError(f"{what} must be a base64 string, a data URL or an array of bytes, not {kind}")


def _decode_text(value: str, what: str, max_bytes: int) -> Payload:
    text = value.strip()
    if not text:
        raise NodeError(f"{what} is empty; send the file as base64 or as a data URL")
    match = _DATA_URL.match(text)
    if match is None:
        return Payload(_from_base64(text, what, max_bytes))
    params = [part.strip() for part in match["meta"].split(";")]
    declared = params[0] if params and "=" not in params[0] else ""
    name = next((unquote(p.split("=", 1)[1]) for p in params if p.lower().startswith(("name=", "filename="))), "")
    if any(p.lower() == "base64" for p in params[1:]):
        return Payload(_from_base64(match["data"], what, max_bytes), declared, name)
    data = unquote_to_bytes(match["data"])
    _check_size(len(data), what, max_bytes)
    return Payload(data, declared, name)


def _from_base64(text: str, what: str, max_bytes: int) -> bytes:
    compact = _WHITESPACE.sub("", text)
    _check_size(len(compact) * 3 // 4, what, max_bytes)
    if not _BASE64_ALPHABET.match(compact):
        bad = next((c for c in compact.rstrip("=") if not (c.isascii() and (c.isalnum() or c in "+/-_"))), "=")
        raise NodeError(f"{what} is not valid base64: it contains {bad!r}; send raw base64 or a data URL")
    padded = compact + "=" * (-len(compact) % 4)
    try:
        if "-" in padded or "_" in padded:
            return base64.urlsafe_b64decode(padded)
        return base64.b64decode(padded, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NodeError(f"{what} is not valid base64 ({exc}); send raw base64 or a data URL") from exc


def _from_byte_array(values: list[Any], what: str, max_bytes: int) -> bytes:
    _check_size(len(values), what, max_bytes)
    if not all(isinstance(item, int) and not isinstance(item, bool) and 0 <= item <= 255 for item in values):
        raise NodeError(f"{what} is an array, but not of byte values (whole numbers from 0 to 255)")
    return bytes(values)


def _check_size(size: int, what: str, max_bytes: int) -> None:
    if size > max_bytes:
        limit = describe_size(max_bytes)
        raise NodeError(f"{what} is too large: {describe_size(size)}, more than the limit of {limit}")


def describe_size(size: int) -> str:
    if size >= MB:
        return f"{size / MB:.1f} MB"
    if size >= 1024:
        return f"{size / 1024:.1f} KB"
    return f"{size} bytes"


def sniff(data: bytes) -> str:
    """The media type the leading bytes identify, `text/plain` for UTF-8 text, or "" when unknown."""
    head = data[:16]
    for signature, media_type in _SIGNATURES:
        if head.startswith(signature):
            return media_type
    if head[:4] == b"RIFF" and len(head) >= 12:
        return {b"WAVE": "audio/wav", b"WEBP": "image/webp", b"AVI ": "video/x-msvideo"}.get(head[8:12], "")
    if head[4:8] == b"ftyp":
        return "audio/mp4" if head[8:11] == b"M4A" else "video/mp4"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xF6 == 0xF0:
        return "audio/aac"
    if len(head) >= 2 and head[0] == 0xFF and head[1] & 0xE0 == 0xE0:
        return "audio/mpeg"
    return "text/plain" if data and _looks_like_text(data) else ""


_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
    (b"II*\x00", "image/tiff"),
    (b"MM\x00*", "image/tiff"),
    (b"%PDF-", "application/pdf"),
    (b"ID3", "audio/mpeg"),
    (b"OggS", "audio/ogg"),
    (b"fLaC", "audio/flac"),
    (b"\x1aE\xdf\xa3", "video/webm"),
    (b"PK\x03\x04", "application/zip"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "application/msword"),
    (b"{\\rtf", "application/rtf"),
)


def _looks_like_text(data: bytes) -> bool:
    sample = data[:4096]
    try:
        decoded = sample.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        if exc.start < len(sample) - 3:
            return False
        decoded = sample[: exc.start].decode("utf-8-sig")
    return not any(ord(char) < 32 and char not in "\t\n\r\f\v" for char in decoded)


def accepts(patterns: str, media_type: str, name: str = "") -> bool:
    """Whether a file matches an HTML `accept` list such as `image/*,application/pdf,.csv`.

    An extension matches the file's name, or the media type that extension stands for; plain text
    (whose precise kind bytes cannot tell) matches any textual extension such as `.csv` or `.md`.
    """
    media_type = normalise_type(media_type)
    for pattern in (part.strip().lower() for part in patterns.split(",")):
        if not pattern:
            continue
        if pattern in ("*", "*/*"):
            return True
        if pattern.startswith("."):
            if name.lower().endswith(pattern):
                return True
            meant = normalise_type(mimetypes.guess_type(f"file{pattern}", strict=False)[0] or "")
            if meant and (meant == media_type or (media_type == "text/plain" and is_textual(meant))):
                return True
        elif pattern.endswith("/*"):
            if media_type.startswith(pattern[:-1]):
                return True
        elif normalise_type(pattern) == media_type:
            return True
    return False


def data_url(data: bytes, media_type: str) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode('ascii')}"
