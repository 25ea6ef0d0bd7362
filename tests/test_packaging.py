"""`pip install .` ships what `harborlite serve` needs beside the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from tests.harness import ROOT


def test_wheel_ships_migrations_templates_static_and_the_command(tmp_path: Path) -> None:
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "-q",
            "--no-deps",
            "--no-build-isolation",
            "-w",
            str(tmp_path),
            str(ROOT),
        ],
        check=True,
        capture_output=True,
    )
    wheel = next(tmp_path.glob("harborlite-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    share = "harborlite-0.1.0.data/data/share/harborlite/"
    for migration in (ROOT / "migrations" / "versions").glob("*.py"):
        assert f"{share}migrations/versions/{migration.name}" in names
    assert f"{share}migrations/env.py" in names
    for folder in ("templates", "static"):
        for path in (ROOT / folder).rglob("*"):
            if path.is_file():
                assert f"{share}{path.relative_to(ROOT)}" in names, path
    assert "harborlite/api/openapi.json" in names  # served at /api/v2.0/openapi.json
    entry_points = next(n for n in names if n.endswith("entry_points.txt"))
    assert "harborlite = harborlite.cli:main" in zipfile.ZipFile(wheel).read(entry_points).decode()


def test_resource_dir_falls_back_to_the_install_prefix(tmp_path: Path) -> None:
    code = (
        "import sys, harborlite.resources as r; from pathlib import Path;"
        f"r._CHECKOUT = Path({str(tmp_path)!r}); sys.prefix = {str(tmp_path / 'prefix')!r};"
        "print(r.resource_dir('migrations'))"
    )
    (tmp_path / "prefix" / "share" / "harborlite" / "migrations").mkdir(parents=True)
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout.strip()
    assert out == str(tmp_path / "prefix" / "share" / "harborlite" / "migrations")
