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


CHART_WIDTH = 720.0
CHART_HEIGHT = 180.0
STATUS_ORDER = ("success", "error", "timeout", "cancelled", "interrupted", "running", "queued")
"""The order a bucket's runs are stacked in, bottom up."""


@dataclass(frozen=True, slots=True)
class Segment:
    status: str
    runs: int
    y: float
    height: float


@dataclass(frozen=True, slots=True)
class Column:
    label: str
    """The bucket's start as people read it (`14:00`, `12-06`)."""
    x: float
    width: float
    runs: int
    segments: Sequence[Segment]


@dataclass(frozen=True, slots=True)
class Point:
    label: str
    x: float
    y: float
    value: int


@dataclass(frozen=True, slots=True)
class Axis:
    """Y-axis ticks (value, y) and the x labels worth printing (label, x): first, middle and last."""

    ticks: Sequence[tuple[str, float]]
    labels: Sequence[tuple[str, float]]


@dataclass(frozen=True, slots=True)
class RunsChart:
    columns: Sequence[Column]
    axis: Axis


@dataclass(frozen=True, slots=True)
class LatencyChart:
    lines: Mapping[str, Sequence[Point]]
    """`p50` and `p95`: a point per bucket that had finished runs."""
    axis: Axis


@dataclass(frozen=True, slots=True)
class Bucket:
    """What the charts need of one statistics bucket."""

    start: datetime
    by_status: Mapping[str, int]
    p50: int | None
    p95: int | None


def runs_chart(buckets: Sequence[Bucket], daily: bool) -> RunsChart:
    """Runs per bucket, stacked by status."""
    most = max((sum(bucket.by_status.values()) for bucket in buckets), default=0) or 1
    step = CHART_WIDTH / max(len(buckets), 1)
    columns = []
    for index, bucket in enumerate(buckets):
        base = CHART_HEIGHT
        segments = []
        for status in _statuses(bucket.by_status):
            runs = bucket.by_status[status]
            height = runs / most * CHART_HEIGHT
            base -= height
            segments.append(Segment(status, runs, base, height))
        columns.append(
            Column(
                _label(bucket.start, daily),
                index * step,
                max(step * 0.8, 1.0),
                sum(bucket.by_status.values()),
                segments,
            )
        )
    return RunsChart(columns, _axis(most, [(column.label, column.x + column.width / 2) for column in columns], ""))


def latency_chart(buckets: Sequence[Bucket], daily: bool) -> LatencyChart:
    """p50 and p95 duration per bucket, in milliseconds."""
    slowest = max((bucket.p95 or bucket.p50 or 0 for bucket in buckets), default=0) or 1
    step = CHART_WIDTH / max(len(buckets), 1)
    lines: dict[str, list[Point]] = {"p50": [], "p95": []}
    for index, bucket in enumerate(buckets):
        x = index * step + step * 0.4
        for name, value in (("p50", bucket.p50), ("p95", bucket.p95)):
            if value is not None:
                lines[name].append(
                    Point(_label(bucket.start, daily), x, CHART_HEIGHT - value / slowest * CHART_HEIGHT, value)
                )
    labels = [(_label(bucket.start, daily), index * step + step * 0.4) for index, bucket in enumerate(buckets)]
    return LatencyChart(lines, _axis(slowest, labels, " ms"))


def _statuses(by_status: Mapping[str, int]) -> list[str]:
    known = [status for status in STATUS_ORDER if by_status.get(status)]
    return known + sorted(status for status in by_status if status not in STATUS_ORDER and by_status[status])


def _label(start: datetime, daily: bool) -> str:
    return start.strftime("%m-%d" if daily else "%H:00")


def _axis(most: int, labels: Sequence[tuple[str, float]], unit: str) -> Axis:
    values = sorted({0, most // 2, most}) if most >= 2 else [0, most]
    ticks = [(f"{value}{unit}", CHART_HEIGHT - value / most * CHART_HEIGHT) for value in values]
    shown = [labels[index] for index in sorted({0, len(labels) // 2, len(labels) - 1}) if labels]
    return Axis(ticks, shown)
