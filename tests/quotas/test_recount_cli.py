"""``harborlite quota recount``: a project's usage counted again from the registry, offline."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.api.pushing import Pusher
from tests.harness import ROOT, cleanup, start_harborlite


def test_quota_recount_counts_a_project_from_the_registry() -> None:
    server = start_harborlite()
    try:
        server.create_project("counted")
        with Pusher(server) as pusher:
            pushed = pusher.image("counted/app", "v1")
        server.stop()
        env = {**os.environ, "HARBORLITE_DATA_DIR": str(server.data_dir)}

        def recount(*names: str) -> subprocess.CompletedProcess[str]:
            return subprocess.run(
                [sys.executable, "-m", "harborlite", "quota", "recount", *names],
                env=env,
                cwd=ROOT,
                capture_output=True,
                text=True,
                timeout=120,
            )

        done = recount("counted")
        assert done.returncode == 0, done.stderr
        line = done.stdout.strip().splitlines()[-1]
        assert line.startswith("counted: ") and "1 manifests" in line, line
        assert pushed.size > 0
        missing = recount("nosuchproject")
        assert missing.returncode == 2
        assert "nosuchproject" in missing.stderr
    finally:
        cleanup(server)
