"""Charts drawn on the server as SVG geometry (no script, no external service): the templates place
the shapes this module computes. Every coordinate is in the chart's own viewBox units."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

TIMELINE_WIDTH = 1000.0
"""The width of a trace timeline's drawing area; labels sit in a column to its left."""
ROW_HEIGHT = 28


@dataclass(frozen=True, slots=True)
class Bar:
    node_id: str
    node_type: str
    status: str
    error: str | None
    offset_ms: float
    duration_ms: float
    x: float
    width: float
    y: float


@dataclass(frozen=True, slots=True)
class Timeline:
    bars: Sequence[Bar]
    total_ms: float
    height: float


def timeline(trace: Any) -> Timeline | None:
    """Each node of an execution's trace as a bar from its start to its end, on one time axis starting
    at the first node's start; None when there is no trace to draw."""
    entries = [entry for entry in trace or () if isinstance(entry, Mapping) and _start(entry) is not None]
    if not entries:
        return None
    entries.sort(key=lambda entry: _start(entry) or 0.0)
    origin = _start(entries[0]) or 0.0
    spans = [((_start(entry) or origin) - origin, float(entry.get("durationMs") or 0.0)) for entry in entries]
    total = max((offset + duration for offset, duration in spans), default=0.0) or 1.0
    bars = [
        Bar(
            node_id=str(entry.get("nodeId", "")),
            node_type=str(entry.get("type", "")),
            status=str(entry.get("status", "")),
            error=entry.get("error"),
            offset_ms=offset,
            duration_ms=duration,
            x=offset / total * TIMELINE_WIDTH,
            width=max(duration / total * TIMELINE_WIDTH, 2.0),
            y=index * ROW_HEIGHT,
        )
        for index, (entry, (offset, duration)) in enumerate(zip(entries, spans, strict=True))
    ]
    return Timeline(bars, total, len(bars) * ROW_HEIGHT)


def _start(entry: Mapping[str, Any]) -> float | None:
    """Milliseconds since the epoch of the entry's `startedAt`."""
    started = entry.get("startedAt")
    if not isinstance(started, str):
        return None
    try:
        return datetime.fromisoformat(started.replace("Z", "+00:00")).timestamp() * 1000
    except ValueError:
        return None
