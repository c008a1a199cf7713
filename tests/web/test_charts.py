"""Charts as SVG geometry: the trace timeline, runs by status and durations per bucket."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from clara_runner.web.charts import (
    CHART_HEIGHT,
    ROW_HEIGHT,
    TIMELINE_WIDTH,
    Bucket,
    latency_chart,
    runs_chart,
    timeline,
)


def test_bars_are_placed_by_start_and_sized_by_duration() -> None:
    drawn = timeline(
        [
            {
                "nodeId": "b",
                "type": "llm",
                "status": "success",
                "startedAt": "2026-01-01T00:00:00.100Z",
                "durationMs": 300,
            },
            {
                "nodeId": "a",
                "type": "input",
                "status": "success",
                "startedAt": "2026-01-01T00:00:00.000Z",
                "durationMs": 0,
            },
            {
                "nodeId": "c",
                "type": "output",
                "status": "error",
                "startedAt": "2026-01-01T00:00:00.400Z",
                "durationMs": 100,
                "error": "boom",
            },
        ]
    )
    assert drawn is not None
    assert drawn.total_ms == pytest.approx(500)
    assert [bar.node_id for bar in drawn.bars] == ["a", "b", "c"]
    a, b, c = drawn.bars
    assert (a.x, a.width) == (0, 2.0), "an instant node still shows"
    assert [b.x, b.width] == pytest.approx([TIMELINE_WIDTH * 0.2, TIMELINE_WIDTH * 0.6])
    assert c.x + c.width == pytest.approx(TIMELINE_WIDTH)
    assert (c.error, c.y) == ("boom", 2 * ROW_HEIGHT)
    assert drawn.height == 3 * ROW_HEIGHT


@pytest.mark.parametrize("trace", [None, [], [{"nodeId": "x"}], [{"startedAt": "not a time"}], "text"])
def test_nothing_to_draw_is_none(trace: object) -> None:
    assert timeline(trace) is None


HOUR = datetime(2026, 12, 6, 10, tzinfo=UTC)


def test_runs_are_stacked_by_status_on_a_shared_scale() -> None:
    buckets = [
        Bucket(HOUR, {"error": 1, "success": 3}, 10, 40),
        Bucket(HOUR + timedelta(hours=1), {}, None, None),
        Bucket(HOUR + timedelta(hours=2), {"success": 2}, 20, 20),
    ]
    chart = runs_chart(buckets, daily=False)
    first, empty, last = chart.columns
    assert [(segment.status, segment.runs) for segment in first.segments] == [("success", 3), ("error", 1)]
    assert sum(segment.height for segment in first.segments) == pytest.approx(CHART_HEIGHT), (
        "the busiest fills the height"
    )
    assert first.segments[0].y + first.segments[0].height == pytest.approx(CHART_HEIGHT), "stacked from the bottom"
    assert (empty.runs, empty.segments) == (0, [])
    assert last.segments[0].height == pytest.approx(CHART_HEIGHT / 2)
    assert [label for label, _ in chart.axis.labels] == ["10:00", "11:00", "12:00"]
    assert [label for label, _ in chart.axis.ticks] == ["0", "2", "4"]


def test_latency_lines_skip_buckets_without_finished_runs() -> None:
    buckets = [
        Bucket(HOUR, {"success": 1}, 10, 40),
        Bucket(HOUR + timedelta(days=1), {}, None, None),
        Bucket(HOUR + timedelta(days=2), {"success": 1}, 20, 20),
    ]
    chart = latency_chart(buckets, daily=True)
    assert [point.value for point in chart.lines["p50"]] == [10, 20]
    assert [point.value for point in chart.lines["p95"]] == [40, 20]
    assert chart.lines["p95"][0].y == pytest.approx(0), "the slowest reaches the top"
    assert [label for label, _ in chart.axis.labels] == ["12-06", "12-07", "12-08"]
