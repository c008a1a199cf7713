"""The text fields of deploy and new-version bodies, checked the same way in both."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

NAME_LENGTH = 255
DESCRIPTION_LENGTH = 5000
USER_ID_LENGTH = 255


def text_field(
    body: Mapping[str, Any],
    field: str,
    problems: list[str],
    *,
    max_length: int,
    required: bool = False,
    not_text: str | None = None,
) -> str | None:
    """`body[field]` when it is acceptable text, else None with the problem appended to `problems`.

    A required field must hold more than whitespace. `not_text` is the problem reported for a value of
    another type (the original server's wording, where it had one). NUL characters are refused: no
    database stores them in text, and no name or description needs one.
    """
    value = body.get(field)
    shape = not_text or (
        f"{field} is required and must be a non-empty string" if required else f"{field} must be a string"
    )
    if value is None:
        if required:
            problems.append(shape)
        return None
    if not isinstance(value, str) or (required and not value.strip()):
        problems.append(shape)
    elif len(value) > max_length:
        problems.append(f"{field} must be {max_length} characters or less")
    elif "\x00" in value:
        problems.append(f"{field} must not contain NUL characters (\\u0000)")
    else:
        return value
    return None
