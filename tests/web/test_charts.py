"""The trace timeline: each node a bar on one time axis from the first node's start."""

from __future__ import annotations

import pytest

from clara_runner.web.charts import ROW_HEIGHT, TIMELINE_WIDTH, timeline


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
    assert (b.x, b.width) == (pytest.approx(TIMELINE_WIDTH * 0.2), pytest.approx(TIMELINE_WIDTH * 0.6))
    assert (c.x + c.width, c.error, c.y) == (pytest.approx(TIMELINE_WIDTH), "boom", 2 * ROW_HEIGHT)
    assert drawn.height == 3 * ROW_HEIGHT


@pytest.mark.parametrize("trace", [None, [], [{"nodeId": "x"}], [{"startedAt": "not a time"}], "text"])
def test_nothing_to_draw_is_none(trace: object) -> None:
    assert timeline(trace) is None
