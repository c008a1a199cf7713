"""File fields: base64 text (or a `data:` URL) with a declared media type.

A node type whose API field carries a file (an image, a PDF, any upload) declares it with
`{"type": "string", "contentEncoding": "base64", "contentMediaType": ...}`. JSON Schema treats those
two keywords as annotations only, so this module does what a validator will not: decode the text and
check that the bytes are what the media type says. It also makes real sample files (a 1x1 PNG, a
one-page PDF, a short WAV), so examples in the documentation decode and validate.
"""

from __future__ import annotations

import base64
import binascii
import re
import struct
import zlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

_DATA_URL = re.compile(r"data:([^,;]*)((?:;[^,;]*)*?);base64,", re.IGNORECASE)

_SIGNATURES: Mapping[str, Callable[[bytes], bool]] = {
    "image/png": lambda data: data.startswith(b"\x89PNG\r\n\x1a\n"),
    "image/jpeg": lambda data: data.startswith(b"\xff\xd8\xff"),
    "image/gif": lambda data: data[:6] in (b"GIF87a", b"GIF89a"),
    "image/webp": lambda data: data[:4] == b"RIFF" and data[8:12] == b"WEBP",
    "image/bmp": lambda data: data.startswith(b"BM"),
    "application/pdf": lambda data: data.startswith(b"%PDF-"),
}
_NAMES = {
    "image/png": "PNG",
    "image/jpeg": "JPEG",
    "image/gif": "GIF",
    "image/webp": "WebP",
    "image/bmp": "BMP",
    "application/pdf": "PDF",
}
_IMAGE_TYPES = tuple(name for name in _SIGNATURES if name.startswith("image/"))


def is_file_field(schema: Mapping[str, Any]) -> bool:
    return str(schema.get("contentEncoding", "")).lower() == "base64"


@dataclass(frozen=True, slots=True)
class MediaCheck:
    """The media types a file field accepts, as far as they can be recognised from their bytes."""

    media_type: str

    @property
    def accepted(self) -> tuple[str, ...]:
        """Recognised types: any image type accepts every image format (nodes hand images to models
        that read them all); PDF must be a PDF; other types are not checked."""
        wanted = self.media_type.split(";", 1)[0].strip().lower()
        if wanted == "image" or wanted.startswith("image/"):
            return _IMAGE_TYPES
        return (wanted,) if wanted in _SIGNATURES else ()

    def describe(self) -> str:
        accepted = self.accepted
        if not accepted:
            return f"base64-encoded {self.media_type or 'file'} data"
        names = [_NAMES[name] for name in accepted]
        listed = names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]
        return f"a base64-encoded {listed} file"

    def problem(self, text: str) -> str | None:
        """Why `text` is not acceptable (a sentence fragment), or None when it is."""
        body = strip_data_url(text)
        try:
            data = base64.b64decode(body.strip(), validate=True)
        except (binascii.Error, ValueError):
            return f"must be {self.describe()}, optionally as a data: URL; it is not valid base64"
        accepted = self.accepted
        if accepted and not any(_SIGNATURES[name](data) for name in accepted):
            return f"must be {self.describe()}; the decoded bytes are not one"
        return None


def strip_data_url(text: str) -> str:
    """The base64 part of a `data:<type>;base64,<data>` URL, or `text` unchanged."""
    match = _DATA_URL.match(text)
    return text[match.end() :] if match else text


def data_url(media_type: str, data: bytes) -> str:
    return f"data:{media_type};base64,{base64.b64encode(data).decode()}"


def _png_chunk(kind: bytes, payload: bytes) -> bytes:
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload))


def tiny_png() -> bytes:
    """A valid 1x1 PNG: one opaque white pixel, 8-bit RGBA."""
    header = struct.pack(">IIBBBBB", 1, 1, 8, 6, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff\xff")
    return b"\x89PNG\r\n\x1a\n" + _png_chunk(b"IHDR", header) + _png_chunk(b"IDAT", pixels) + _png_chunk(b"IEND", b"")


def tiny_pdf() -> bytes:
    """A valid one-page PDF saying "Hello, Clara!", with a correct cross-reference table."""
    stream = b"BT /F1 24 Tf 72 720 Td (Hello, Clara!) Tj ET"
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 5 0 R >> >> "
        b"/Contents 4 0 R >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>",
    ]
    out = bytearray(b"%PDF-1.4\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{number} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    out += b"".join(f"{offset:010d} 00000 n \n".encode() for offset in offsets)
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def tiny_wav() -> bytes:
    """A valid WAV file: 10 ms of silence, 8 kHz, 16-bit mono."""
    samples = b"\x00\x00" * 80
    fmt = struct.pack("<HHIIHH", 1, 1, 8000, 16000, 2, 16)
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", len(samples)) + samples
    return b"RIFF" + struct.pack("<I", len(body)) + body


def sample_file(media_type: str) -> str:
    """A data URL holding a real, small file of `media_type` (a text file for types without a sample)."""
    wanted = media_type.split(";", 1)[0].strip().lower()
    if wanted.startswith("image/") or wanted == "image":
        return data_url("image/png", tiny_png())
    if wanted == "application/pdf":
        return data_url("application/pdf", tiny_pdf())
    if wanted.startswith("audio/"):
        return data_url("audio/wav", tiny_wav())
    return data_url(wanted or "application/octet-stream", b"Hello, Clara!\n")
