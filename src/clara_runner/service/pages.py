"""Pagination with the original server's parameters and messages, and an exact `hasMore`."""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

from clara_runner.errors import ValidationFailed

T = TypeVar("T")
MAX_LIMIT = 1000
"""The largest page a listing returns."""


@dataclass(frozen=True, slots=True)
class PageRequest:
    limit: int
    offset: int

    @classmethod
    def parse(cls, limit: str | None, offset: str | None, default_limit: int) -> PageRequest:
        problems = []
        parsed_limit, parsed_offset = default_limit, 0
        if limit is not None:
            number = _integer(limit)
            if number is None or number < 1:
                problems.append("limit must be a positive integer")
            elif number > MAX_LIMIT:
                problems.append(f"limit must be {MAX_LIMIT} or less")
            else:
                parsed_limit = number
        if offset is not None:
            number = _integer(offset)
            if number is None or number < 0:
                problems.append("offset must be a non-negative integer")
            else:
                parsed_offset = number
        if problems:
            raise ValidationFailed(problems)
        return cls(parsed_limit, parsed_offset)


_INTEGER = re.compile(r"-?[0-9]{1,12}")
"""ASCII digits only: `str.isdigit` also accepts `¹` or `٣`, which `int` then refuses."""


def _integer(text: str) -> int | None:
    stripped = text.strip()
    return int(stripped) if _INTEGER.fullmatch(stripped) else None


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    items: Sequence[T]
    request: PageRequest
    has_more: bool

    @classmethod
    def from_overfetch(cls, rows: Sequence[T], request: PageRequest) -> Page[T]:
        """Rows fetched with `limit + 1`: one extra row proves there is more."""
        return cls(rows[: request.limit], request, len(rows) > request.limit)
