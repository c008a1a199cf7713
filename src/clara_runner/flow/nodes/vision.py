"""Images on their way to a vision model.

Studio's `llm` node accepts an image as a data URL, as raw base64, or as the `{base64: ...}` object
that `image-input` produces; providers want a data URL (OpenAI `image_url` parts) or the media type
and the base64 data apart (Anthropic image blocks).
"""

from __future__ import annotations

import base64
import binascii
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from clara_runner.flow.errors import NodeError

_DATA_URL = re.compile(r"^data:(?P<type>image/[\w.+-]+)?(?:;[\w=-]+)*;base64,(?P<data>.*)$", re.DOTALL)
_MAGIC = (
    (b"\x89PNG\r\n\x1a\n", "image/png"),
    (b"\xff\xd8\xff", "image/jpeg"),
    (b"GIF87a", "image/gif"),
    (b"GIF89a", "image/gif"),
)


@dataclass(frozen=True, slots=True)
class ImageData:
    media_type: str
    data: str
    """The base64 text, without the `data:` prefix."""


def parse_image_url(url: str) -> ImageData | None:
    """The media type and base64 data of an image data URL; None for any other URL."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    data = match.group("data").strip()
    return ImageData(match.group("type") or sniff_media_type(data), data)


def image_data_url(value: Any) -> str | None:
    """The data URL (or http(s) URL) for an `image` input, None when there is no image.

    Raw base64 gets the media type its first bytes reveal (JPEG when they reveal nothing, as Studio
    assumes); text that is neither a URL nor base64 fails the node instead of reaching the model.
    """
    if isinstance(value, Mapping):
        value = value.get("base64") or value.get("dataUrl") or value.get("url")
    if value is None or value == "":
        return None
    if not isinstance(value, str):
        raise NodeError("image must be a data URL, base64 text, or an object with a base64 field")
    text = value.strip()
    if text.startswith("data:") or text.startswith(("http://", "https://")):
        return text
    compact = "".join(text.split())
    try:
        base64.b64decode(compact[:64] + "=" * (-len(compact[:64]) % 4), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise NodeError("image is neither a data URL nor base64 text") from exc
    return f"data:{sniff_media_type(compact)};base64,{compact}"


def sniff_media_type(data: str) -> str:
    """The image type the first bytes of base64 `data` reveal; `image/jpeg` when they reveal none."""
    head = data[:24]
    try:
        raw = base64.b64decode(head + "=" * (-len(head) % 4))
    except (binascii.Error, ValueError):
        return "image/jpeg"
    for magic, media_type in _MAGIC:
        if raw.startswith(magic):
            return media_type
    if raw[:4] == b"RIFF" and raw[8:12] == b"WEBP":
        return "image/webp"
    return "image/jpeg"
