"""The dashboard's small bar chart of pushes and pulls per day, laid out server-side as SVG
shapes (pure: the template only draws what this computes)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta

WIDTH, HEIGHT = 900, 160
LEFT, RIGHT, TOP, BOTTOM = 32, 8, 10, 22


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    series: str
    title: str


@dataclass(frozen=True)
class Tick:
    x: float
    y: float
    label: str


@dataclass(frozen=True)
class Chart:
    width: int
    height: int
    bars: list[Bar]
    x_ticks: list[Tick]
    y_ticks: list[Tick]
    baseline: float
    totals: dict[str, int]

    @property
    def empty(self) -> bool:
        return not any(self.totals.values())


def days_ending(today: date, count: int = 30) -> list[date]:
    return [today - timedelta(days=count - 1 - i) for i in range(count)]


def _nice_max(value: int) -> int:
    """The top of the y axis: four equal whole-number steps (1 to 5, then 10, 20, 25, 50...)."""
    magnitude = 1
    while True:
        for step in (1, 2, 3, 4, 5) if magnitude == 1 else (1, 2, 2.5, 5):
            top = int(4 * step * magnitude)
            if top >= value:
                return top
        magnitude *= 10


def activity_chart(
    days: list[date],
    counts: dict[tuple[date, str], int],
    series: tuple[str, ...] = ("push", "pull"),
) -> Chart:
    """Grouped bars, one group per day, one bar per series."""
    plot_w = WIDTH - LEFT - RIGHT
    plot_h = HEIGHT - TOP - BOTTOM
    peak = max((counts.get((d, s), 0) for d in days for s in series), default=0)
    top = _nice_max(peak)
    group = plot_w / max(1, len(days))
    bar_w = max(1.0, (group - 2) / len(series))
    bars: list[Bar] = []
    for i, day in enumerate(days):
        for j, name in enumerate(series):
            n = counts.get((day, name), 0)
            h = plot_h * n / top
            bars.append(
                Bar(
                    x=round(LEFT + i * group + 1 + j * bar_w, 2),
                    y=round(TOP + plot_h - h, 2),
                    width=round(bar_w - 0.5, 2),
                    height=round(h, 2),
                    series=name,
                    title=f"{day.isoformat()}: {n} {name}{'es' if name == 'push' else 's'}",
                )
            )
    x_ticks = [
        Tick(x=round(LEFT + i * group + group / 2, 2), y=HEIGHT - 8, label=day.strftime("%b %d"))
        for i, day in enumerate(days)
        if i % 5 == 0 or i == len(days) - 1
    ]
    y_ticks = [
        Tick(x=LEFT - 6, y=round(TOP + plot_h - plot_h * k / 4, 2), label=str(top * k // 4))
        for k in range(5)
    ]
    totals = {name: sum(counts.get((d, name), 0) for d in days) for name in series}
    return Chart(WIDTH, HEIGHT, bars, x_ticks, y_ticks, TOP + plot_h, totals)
