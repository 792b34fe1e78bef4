"""The server-side SVG chart of attempts per minute."""

from __future__ import annotations

from datetime import UTC, datetime

from bridge.ui.chart import ChartWindow, minute_key, render_chart

NOW = datetime(2026, 11, 22, 10, 15, 42, tzinfo=UTC)


def test_window_ends_with_the_current_minute() -> None:
    """The last slot is the minute holding `end`; there are `minutes` slots."""
    slots = ChartWindow(end=NOW, minutes=60).slots()
    assert len(slots) == 60
    assert minute_key(slots[-1]) == "2026-11-22 10:15"
    assert minute_key(slots[0]) == "2026-11-22 09:16"


def test_bars_stack_outcomes_with_tooltips() -> None:
    """Each outcome of a minute is its own rect with a title giving the count."""
    svg = render_chart(
        {("2026-11-22 10:15", "succeeded"): 7, ("2026-11-22 10:15", "failed"): 3},
        ChartWindow(end=NOW, minutes=30),
    )
    assert svg.startswith("<svg")
    assert svg.endswith("</svg>")
    assert "<title>2026-11-22 10:15 succeeded: 7</title>" in svg
    assert "<title>2026-11-22 10:15 failed: 3</title>" in svg
    assert ">10<" in svg  # the peak, 7 + 3, labels the axis


def test_counts_outside_the_window_are_not_drawn() -> None:
    """A minute before the window leaves the chart empty."""
    svg = render_chart({("2026-11-22 08:00", "succeeded"): 5}, ChartWindow(end=NOW, minutes=30))
    assert "<rect" not in svg
    assert "<script" not in svg
