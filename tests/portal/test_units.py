"""Pure parts of the portal: the chart layout, formatting, paging, CSRF comparison."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta

import pytest

from harborlite.auth.permissions import Role
from harborlite.portal.charts import activity_chart, days_ending
from harborlite.portal.formatting import ago, human_size, role_title, short_digest
from harborlite.portal.pages import safe_next
from harborlite.sessions.csrf import tokens_match


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


@pytest.mark.parametrize(
    ("size", "text"),
    [(0, "0 B"), (1023, "1023 B"), (1536, "1.5 KiB"), (5 * 1024**3, "5.0 GiB"), (None, "—")],
)
def test_human_size(size: int | None, text: str) -> None:
    assert human_size(size) == text


def test_ago() -> None:
    now = datetime(2026, 11, 28, 12, 0, tzinfo=UTC)
    assert ago(None) == "never"
    assert ago(now - timedelta(seconds=10), now) == "just now"
    assert ago(now - timedelta(minutes=1), now) == "1 minute ago"
    assert ago(now - timedelta(hours=5), now) == "5 hours ago"
    assert ago(now - timedelta(days=40), now) == "2026-10-19"


def test_short_digest_and_roles() -> None:
    assert short_digest("sha256:" + "ab" * 32) == "sha256:abababababab"
    assert short_digest("") == ""
    assert role_title(Role.DEVELOPER) == "Developer"
    assert role_title(1) == "Project Admin"
    assert role_title(None) == "—"


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("/projects", "/projects"),
        ("//evil.example", "/"),
        ("https://evil.example", "/"),
        ("/\\evil.example", "/"),
        (None, "/"),
    ],
)
def test_safe_next(given: str | None, expected: str) -> None:
    assert safe_next(given) == expected


def test_tokens_match() -> None:
    assert tokens_match("abc", "abc")
    assert not tokens_match("abc", "abd")
    assert not tokens_match("", "")
    assert not tokens_match(None, "abc")
