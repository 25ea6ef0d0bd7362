"""``bench/soak.py`` still runs: a few clients for a few seconds, no error (no timing asserted)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_soak_runs_and_reports_both_sides(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "soak.py"),
            *("--minutes", "0.05", "--clients", "3", "--pullers", "10"),
            *("--out", str(out), "--workdir", str(tmp_path / "work")),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    results = json.loads(out.read_text())
    assert [side["side"] for side in results] == ["registry", "harborlite"]
    for side in results:
        assert side["mixed"]["requests"] > 0 and side["mixed"]["errors"] == 0
        assert side["pullers"]["requests"] == 20 and side["pullers"]["errors"] == 0
        assert side["rss_start_mib"] > 0
    assert "| harborlite | pullers |" in result.stdout
