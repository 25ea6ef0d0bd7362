"""An execution interrupted by a harborlite restart resumes on the same data folder and
finishes without copying again what it had copied: its tasks are recorded, and a done task is
not run again."""

from __future__ import annotations

import os
from pathlib import Path

from tests.harness import cleanup, start_harborlite
from tests.replication.replicas import (
    Registry,
    add_policy,
    add_registry,
    start,
    task_log,
    tasks,
    wait_done,
)
from tests.support.polling import eventually
from tests.support.processes import RegistryServer

LAYER = 48 * 1024
SPEED_KBIT = 128  # 16 KiB/s: about 3 s per image


def test_resumed_after_restart(tmp_path: Path) -> None:
    registry = RegistryServer(tmp_path / "dest")
    first = start_harborlite()
    try:
        first.create_project("slow")
        near = Registry(first.url, first)
        digests = {
            f"slow/app{n}": near.push_image(f"slow/app{n}", "v1", os.urandom(LAYER))
            for n in range(3)
        }
        near.close()
        endpoint = add_registry(first, "dest", "docker-registry", registry.url)
        policy = add_policy(
            first,
            name="slowly",
            dest_registry={"id": endpoint},
            filters=[{"type": "name", "value": "slow/**"}],
            speed=SPEED_KBIT,
        )
        run_id = start(first, policy)
        done = eventually(
            lambda: [t for t in tasks(first, run_id) if t["status"] == "Succeed"] or None,
            "a first task done",
            timeout=30,
        )
        assert len(done) < 3, "too fast to interrupt"
        first.stop()
        second = start_harborlite(data_dir=first.data_dir)
        try:
            run = wait_done(second, run_id, timeout=90)
            assert run["status"] == "Succeed", (run, second.log())
            assert (run["total"], run["succeed"]) == (3, 3)
            shown = {t["id"]: t for t in tasks(second, run_id)}
            for task in done:  # done before the restart: not run again
                assert shown[task["id"]]["attempts"] == 1
                assert task_log(second, run_id, task["id"]).count("copied as") == 1
            far = Registry(registry.url)
            for repository, digest in digests.items():
                assert far.digest(repository, "v1") == digest
            far.close()
        finally:
            second.stop()
    finally:
        cleanup(first)
        registry.stop()
