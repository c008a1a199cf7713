"""Which API input fields carry files.

A field whose schema has `contentEncoding: base64` takes a file (image, PDF, any file): base64 text
or a data URL in a JSON body, or a file part in a multipart/form-data body.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def is_file_field(schema: Mapping[str, Any]) -> bool:
    return schema.get("contentEncoding") == "base64"
