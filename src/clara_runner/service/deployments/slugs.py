"""URL slugs for deployments."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Collection

SLUG_PATTERN = re.compile(r"^[a-z0-9-]+$")
MAX_SLUG_LENGTH = 100
_GENERATED_LENGTH = 50
_SEPARATORS = re.compile(r"[^a-z0-9]+")


def slugify(name: str) -> str:
    """`"Hello World!"` -> `hello-world`; accents are folded (`"Café"` -> `cafe`), and a name with
    nothing usable (`"!!!"`, `"日本語"`) becomes `workflow`, never an empty slug."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode().lower()
    slug = _SEPARATORS.sub("-", ascii_name).strip("-")[:_GENERATED_LENGTH].strip("-")
    return slug or "workflow"


def first_free(base: str, taken: Collection[str]) -> str:
    """`base` if it is free, else `base-1`, `base-2`, ... (the original server's suffixes)."""
    if base not in taken:
        return base
    suffix = 1
    while f"{base}-{suffix}" in taken:
        suffix += 1
    return f"{base}-{suffix}"
