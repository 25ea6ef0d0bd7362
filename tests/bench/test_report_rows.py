"""bench/report.py's rows: medians, ratio, spread over rounds, fraction of a ceiling.

Pure arithmetic on given values: nothing is timed here.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def bench() -> Iterator[tuple[ModuleType, ModuleType]]:
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        import cases
        import report

        yield cases, report
    finally:
        sys.path.remove(str(ROOT / "bench"))


def rows(bench: tuple[ModuleType, ModuleType], values: dict[str, Any]) -> dict[str, Any]:
    cases, report = bench
    target = cases.Target("ratio_min", 1.3, ">= 1.3x")
    listed = [
        cases.Case("get", "blob GET", "MB/s", True, target),
        cases.Case("ceiling", "the ceiling", "MB/s", False),
        cases.Case("once", "measured once", "MB/s", True),
    ]
    summary = report.summarize(listed, values, {"get": "ceiling", "once": "ceiling"})
    return {row["case"]: row for row in summary}


def test_spread_ratio_per_round_and_fraction_of_the_ceiling(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    table = rows(
        bench,
        {
            "get": {"registry": [100.0, 200.0, 150.0], "harborlite": [150.0, 260.0, 300.0]},
            "ceiling": {"harborlite": [400.0, 600.0, 500.0]},
        },
    )
    get = table["get"]
    assert get["median_registry"] == 150 and get["median_harborlite"] == 260
    assert get["ratio"] == pytest.approx(260 / 150)
    assert get["met"] is True
    assert get["spread"] == {"registry": [100, 200], "harborlite": [150, 300]}
    assert get["ratio_rounds"] == pytest.approx([1.5, 1.3, 2.0])
    assert get["of_ceiling"] == pytest.approx({"registry": 0.3, "harborlite": 0.52})
    assert table["ceiling"]["spread"] == {"harborlite": [400, 600]}
    assert table["ceiling"]["of_ceiling"] is None  # not a fraction of anything

    _, report = bench
    line = next(
        line
        for line in report.markdown(list(table.values()), META).splitlines()
        if "blob GET" in line
    )
    assert "reg 100 to 200; hl 150 to 300; x 1.30 to 2.00" in line
    assert "reg 30%; hl 52%" in line


def test_one_round_has_no_spread_text_and_no_ceiling_no_fraction(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    table = rows(bench, {"once": {"registry": [10.0], "harborlite": [20.0]}})
    once = table["once"]
    assert once["spread"] == {"registry": [10, 10], "harborlite": [20, 20]}
    assert once["of_ceiling"] is None  # the ceiling was not measured
    _, report = bench
    line = next(
        line for line in report.markdown(list(table.values()), META).splitlines() if "once" in line
    )
    assert line.endswith("|  |  |")


def test_sides_with_different_counts_have_no_per_round_ratio(
    bench: tuple[ModuleType, ModuleType],
) -> None:
    table = rows(bench, {"get": {"registry": [1.0, 2.0], "harborlite": [3.0]}})
    assert table["get"]["ratio_rounds"] == []


META = {
    "mode": "smoke",
    "rounds": 3,
    "finished": "now",
    "machine": {
        "cores": 2,
        "cpu": "cpu",
        "memory_gib": 1,
        "kernel": "k",
        "python": "3.11",
        "registry": "r",
    },
}
