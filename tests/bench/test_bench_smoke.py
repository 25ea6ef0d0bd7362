"""The bench still runs: ``bench/run.py --smoke`` (tiny sizes, one round) writes every case.

No timing is asserted here; benchmarks never run inside ``make test``.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def test_bench_smoke_writes_every_case(tmp_path: Path) -> None:
    out = tmp_path / "results"
    result = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "run.py"),
            "--smoke",
            "--out",
            str(out),
            "--workdir",
            str(tmp_path / "work"),
        ],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=ROOT,
        check=False,
    )
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    data = json.loads((out / "results.json").read_text())
    markdown = (out / "results.md").read_text()
    assert (out / "ratios.png").stat().st_size > 0
    rows = {row["case"]: row for row in data["cases"]}
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from run import CASES  # imports blob_matrix too
    finally:
        sys.path.remove(str(ROOT / "bench"))
    for case in CASES:
        assert case.name in rows, case.name
        assert case.title in markdown, case.title
        if case.name.startswith("api_"):
            continue  # the artifacts endpoint belongs to another surface and may be missing
        assert rows[case.name]["harborlite"], f"{case.name}: no value measured"
        if case.compared:
            assert rows[case.name]["registry"], f"{case.name}: no registry value"
    # the scale cases ran at tiny sizes with no failed request on either side
    for name in ("scale_pull_errors", "scale_push_errors"):
        assert rows[name]["harborlite"] == [0], (name, rows[name])
        assert rows[name]["registry"] == [0], (name, rows[name])
    assert rows["scale_push_pg_connections"]["harborlite"][0] > 0
    assert not [n for n in data["notes"] if n.startswith("scale") and " failed: " in n]
    assert data["machine"]["cores"]
    # the blob GET matrix: each cell on both sides, with its fraction of the ceiling beside it
    from blob_matrix import CEILINGS

    for get, ceiling in CEILINGS.items():
        assert rows[ceiling]["harborlite"], ceiling
        assert set(rows[get]["of_ceiling"]) == {"registry", "harborlite"}, rows[get]
    assert not [n for n in data["notes"] if n.startswith("blob GET matrix") and "failed" in n]
    # docker push and pull of the big image: one full upload and download on each side
    for name in ("docker_push_big", "docker_pull_big"):
        assert len(rows[name]["registry"]) == len(rows[name]["harborlite"]) == 1, rows[name]
        assert rows[name]["ratio"] is not None, rows[name]
    assert "| docker push, big image | MB/s |" in markdown
    assert not [n for n in data["notes"] if n.startswith("docker") and " failed: " in n]
    assert [n for n in data["notes"] if n.startswith("docker push/pull: Docker Engine")]
