"""Which API input fields carry files.

A field whose schema has `contentEncoding: base64` takes a file (image, PDF, any file): base64 text
in a JSON body, or a file part in a multipart/form-data body. An image field (`contentMediaType:
image/...`) takes it as a data URL, `data:image/png;base64,...`.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_file_field(schema: Mapping[str, Any]) -> bool:
    return schema.get("contentEncoding") == "base64"


def is_image_field(schema: Mapping[str, Any]) -> bool:
    media_type = schema.get("contentMediaType")
    return is_file_field(schema) and isinstance(media_type, str) and media_type.startswith("image/")
