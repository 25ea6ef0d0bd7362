"""The code stays typed (mypy --strict), linted and formatted (ruff): CI checks it here."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from tests.harness import ROOT

BIN = Path(sys.executable).parent
SOURCES = ["harborlite", "tests", "migrations", "bench"]


def run(*argv: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, timeout=600)


def test_ruff_lint() -> None:
    result = run(str(BIN / "ruff"), "check", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_ruff_format() -> None:
    result = run(str(BIN / "ruff"), "format", "--check", *SOURCES)
    assert result.returncode == 0, result.stdout + result.stderr


def test_mypy_strict() -> None:
    result = run(str(BIN / "mypy"), "--strict", "harborlite")
    assert result.returncode == 0, result.stdout + result.stderr
