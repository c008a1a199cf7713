"""Upload helpers for tests: a real PNG, and multipart bodies encoded by the HTTP client itself."""

from __future__ import annotations

import struct
import zlib
from collections.abc import Mapping
from typing import Any

import httpx2


def png(width: int = 2, height: int = 2) -> bytes:
    """A valid RGB PNG image of the given size (red pixels), built as the PNG specification says."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    rows = b"".join(b"\x00" + b"\xff\x00\x00" * width for _ in range(height))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(rows)) + chunk(b"IEND", b"")


def multipart(data: Mapping[str, str] | None = None, files: Mapping[str, Any] | None = None) -> tuple[bytes, str]:
    """(body, Content-Type) of a multipart/form-data request as httpx2 encodes it; `data` are plain parts."""
    parts = {name: (None, value) for name, value in (data or {}).items()} | dict(files or {})
    request = httpx2.Request("POST", "http://testserver/", files=parts)
    return request.read(), request.headers["content-type"]
