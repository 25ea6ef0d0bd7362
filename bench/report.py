"""Medians, ratios and targets: results.json, results.md and ratios.png."""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
from pathlib import Path
from typing import Any

from cases import Case


def machine() -> dict[str, Any]:
    model = ""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory_gib = 0.0
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_gib = int(line.split()[1]) / 1024 / 1024
    except OSError:
        pass
    registry = subprocess.run(
        ["/usr/bin/docker-registry", "--version"], capture_output=True, text=True, check=False
    ).stdout.strip()
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(memory_gib, 1),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "registry": registry,
        "load_average_at_end": os.getloadavg(),
    }


def _median(values: list[float]) -> float | None:
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return statistics.median(clean) if clean else None


def _spread(values: list[float]) -> list[float] | None:
    """[lowest, highest] over the rounds (None with fewer than one clean value)."""
    clean = [v for v in values if v is not None and not math.isnan(v)]
    return [min(clean), max(clean)] if clean else None


def _round_ratios(registry: list[float], harborlite: list[float]) -> list[float]:
    """harborlite / registry within each round, when both sides have one value per round."""
    if len(registry) != len(harborlite):
        return []
    return [h / r for r, h in zip(registry, harborlite, strict=True) if r]


def summarize(
    cases: list[Case],
    values: dict[str, dict[str, list[float]]],
    ceilings: dict[str, str] | None = None,
) -> list[dict[str, Any]]:
    """One row per case: values per side, medians, ratio, target met, spread over rounds and,
    for a case named in ``ceilings`` (case -> ceiling case), each side's fraction of the
    ceiling case's median (the ceiling's values are in its ``harborlite`` series)."""
    rows: list[dict[str, Any]] = []
    for case in cases:
        series = values.get(case.name, {})
        registry = _median(series.get("registry", []))
        harborlite = _median(series.get("harborlite", []))
        ratio = None
        if case.compared and registry and harborlite is not None:
            ratio = harborlite / registry
        ratios = _round_ratios(series.get("registry", []), series.get("harborlite", []))
        of_ceiling = None
        ceiling_case = (ceilings or {}).get(case.name)
        if ceiling_case is not None:
            ceiling = _median(values.get(ceiling_case, {}).get("harborlite", []))
            if ceiling:
                of_ceiling = {
                    side: (median / ceiling if median is not None else None)
                    for side, median in (("registry", registry), ("harborlite", harborlite))
                }
        met = None
        if case.target is not None:
            if case.target.kind == "ratio_min" and ratio is not None:
                met = ratio >= case.target.value
            elif case.target.kind == "max" and harborlite is not None:
                met = harborlite <= case.target.value
            elif case.target.kind == "min" and harborlite is not None:
                met = harborlite >= case.target.value
        rows.append(
            {
                "case": case.name,
                "title": case.title,
                "unit": case.unit,
                "registry": series.get("registry", []),
                "harborlite": series.get("harborlite", []),
                "median_registry": registry,
                "median_harborlite": harborlite,
                "ratio": ratio,
                "target": case.target.text if case.target else None,
                "met": met,
                "spread": {
                    side: _spread(series.get(side, []))
                    for side in ("registry", "harborlite")
                    if series.get(side)
                },
                "ratio_rounds": ratios if case.compared else [],
                "of_ceiling": of_ceiling,
            }
        )
    return rows


def _fmt(value: float | None) -> str:
    if value is None:
        return "-"
    if abs(value) >= 100:
        return f"{value:,.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def _spread_text(row: dict[str, Any]) -> str:
    """``registry lo to hi; harborlite lo to hi; ratio lo to hi`` over rounds, for cases with
    more than one value on a side (one round has no spread)."""
    parts = []
    spread = row.get("spread") or {}
    for side, short in (("registry", "reg"), ("harborlite", "hl")):
        values = row.get(side) or []
        if side in spread and len(values) > 1:
            low, high = spread[side]
            parts.append(f"{short} {_fmt(low)} to {_fmt(high)}")
    ratios = row.get("ratio_rounds") or []
    if len(ratios) > 1:
        parts.append(f"x {min(ratios):.2f} to {max(ratios):.2f}")
    return "; ".join(parts)


def _ceiling_text(row: dict[str, Any]) -> str:
    fractions = row.get("of_ceiling") or {}
    return "; ".join(
        f"{short} {fractions[side]:.0%}"
        for side, short in (("registry", "reg"), ("harborlite", "hl"))
        if fractions.get(side) is not None
    )


def markdown(rows: list[dict[str, Any]], meta: dict[str, Any]) -> str:
    m = meta["machine"]
    lines = [
        f"# harborlite benchmark ({meta['mode']}, {meta['rounds']} interleaved rounds)",
        "",
        f"Run {meta['finished']} on {m['cores']} cores ({m['cpu']}), {m['memory_gib']} GiB RAM, "
        f"Linux {m['kernel']}, Python {m['python']}, {m['registry']}; loopback only. "
        "The registry column is the same registry process harborlite fronts, reached directly "
        "on its own port with the same token. Medians over rounds; ratio = harborlite / registry "
        "(for a time or latency, lower is better). Spread: lowest to highest value of each side "
        "over the rounds, and of the ratio within a round. Of ceiling: a median as a fraction "
        "of the matching ceiling row's median.",
        "",
        "| case | unit | registry | harborlite | ratio | target | met | spread over rounds "
        "| of ceiling |",
        "|---|---|---:|---:|---:|---|:---:|---|---|",
    ]
    for row in rows:
        met = {True: "yes", False: "**no**", None: ""}[row["met"]]
        lines.append(
            f"| {row['title']} | {row['unit']} | {_fmt(row['median_registry'])} | "
            f"{_fmt(row['median_harborlite'])} | {_fmt(row['ratio'])} | "
            f"{row['target'] or ''} | {met} | {_spread_text(row)} | {_ceiling_text(row)} |"
        )
    notes = meta.get("notes") or []
    if notes:
        lines += ["", *[f"- {note}" for note in notes]]
    return "\n".join(lines) + "\n"


def chart(rows: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    shown = [r for r in rows if r["ratio"] is not None]
    if not shown:
        return
    labels = [r["title"] for r in shown]
    ratios = [r["ratio"] for r in shown]
    colors = [
        "tab:green" if r["met"] else ("tab:red" if r["met"] is False else "tab:blue") for r in shown
    ]
    fig, ax = plt.subplots(figsize=(10, 0.38 * len(shown) + 1.5))
    ax.barh(range(len(shown)), ratios, color=colors)
    ax.set_yticks(range(len(shown)), labels, fontsize=8)
    ax.invert_yaxis()
    ax.axvline(1.0, color="black", linewidth=1)
    for index, value in enumerate(ratios):
        ax.text(value, index, f" {value:.2f}", va="center", fontsize=7)
    ax.set_xlabel("harborlite / bare registry (median; green: target met, red: missed)")
    ax.set_title("harborlite vs the registry it fronts")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def write(out: Path, rows: list[dict[str, Any]], meta: dict[str, Any]) -> None:
    out.mkdir(parents=True, exist_ok=True)
    (out / "results.json").write_text(json.dumps({**meta, "cases": rows}, indent=2) + "\n")
    (out / "results.md").write_text(markdown(rows, meta))
    chart(rows, out / "ratios.png")
