"""The activity chart's layout: bars scaled to the busiest day, ticks, an empty chart."""

from __future__ import annotations

from datetime import date

import pytest

from harborlite.portal.charts import activity_chart, days_ending


def test_chart_scales_bars_to_the_busiest_day() -> None:
    days = days_ending(date(2026, 11, 28), 30)
    assert len(days) == 30 and days[0] == date(2026, 10, 30) and days[-1] == date(2026, 11, 28)
    counts = {(days[-1], "push"): 8, (days[-1], "pull"): 2, (days[3], "pull"): 4}
    chart = activity_chart(days, counts)
    assert chart.totals == {"push": 8, "pull": 6}
    assert not chart.empty
    tallest = max(chart.bars, key=lambda b: b.height)
    assert tallest.series == "push" and tallest.title == "2026-11-28: 8 pushes"
    assert tallest.y + tallest.height == pytest.approx(chart.baseline)
    assert [t.label for t in chart.y_ticks] == ["0", "2", "4", "6", "8"]
    assert len(chart.bars) == 60


def test_empty_chart() -> None:
    chart = activity_chart(days_ending(date(2026, 1, 1)), {})
    assert chart.empty and all(b.height == 0 for b in chart.bars)
