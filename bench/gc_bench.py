"""Benchmark: garbage collection throughput, N unreferenced blobs swept, beside listing them.

N small blob folders are written straight into a running harborlite's registry storage (as
uploads nobody finished leave them), dated 3 hours back so the default 2-hour window lets them
go. Then one collection runs through the API (``POST /system/gc/schedule`` Manual, no untagged
deletion), timed from the POST to ``Success``: blobs swept per second is N over that time. It
includes a fixed wait of ``FENCE_DELAY_SECONDS`` (every replica's gateway learns that a
collection runs before anything is marked), reported beside it.

The registry has no online collection to compare with: the baseline is the time to list the
same blob store (the walk any collection must make, as harborlite's does it), and, for
reference, the registry's own offline ``garbage-collect --dry-run`` over the same storage
(marks every repository and lists what it would delete; it must not run beside pushes).

Entry points:

- ``measure(world, count, workers=1)`` for ``bench/run.py`` (its ``World`` has ``server``, a
  ``tests.harness.Harborlite``); returns ``{"blobs_per_s", "run_s", "list_s", ...}``.
- ``python bench/gc_bench.py [--blobs N] [--workers W] [--postgres]``: starts its own
  harborlite (SQLite, and PostgreSQL with ``--postgres``) and prints the results as JSON.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harborlite.gc import storage  # noqa: E402
from harborlite.gc.job import FENCE_DELAY_SECONDS  # noqa: E402
from harborlite.storage import layout  # noqa: E402

AGE_SECONDS = 3 * 3600.0  # older than the default 2-hour window
BLOB_BYTES = 512
REGISTRY_BINARY = "/usr/bin/docker-registry"


def plant(storage_root: Path, count: int, seed: str) -> list[str]:
    """``count`` unreferenced blobs of ``BLOB_BYTES`` in the blob store, dated back."""
    when = time.time() - AGE_SECONDS
    digests = []
    for number in range(count):
        data = hashlib.sha256(f"{seed}/{number}".encode()).digest() * (BLOB_BYTES // 32)
        hexdigest = hashlib.sha256(data).hexdigest()
        path = storage_root / str(layout.blob_data(f"sha256:{hexdigest}"))
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(data)
        os.utime(path, (when, when))
        digests.append(f"sha256:{hexdigest}")
    return digests


def list_seconds(storage_root: Path) -> tuple[float, int]:
    """Seconds to list every blob of the store (name, size, mtime), and how many there are."""
    started = time.perf_counter()
    count = sum(1 for _ in storage.stored_blobs(storage_root))
    return time.perf_counter() - started, count


def registry_dry_run_seconds(config: Path) -> float | None:
    """The registry's offline ``garbage-collect --dry-run`` on the same storage, seconds."""
    if not Path(REGISTRY_BINARY).exists() or not config.exists():
        return None
    started = time.perf_counter()
    done = subprocess.run(
        [REGISTRY_BINARY, "garbage-collect", "--dry-run", str(config)],
        capture_output=True,
        timeout=1800,
        check=False,
    )
    if done.returncode != 0:
        return None
    return time.perf_counter() - started


def run_gc(server: Any, workers: int, timeout: float = 3600) -> tuple[float, dict[str, Any]]:
    """One collection through the API: seconds from the POST to Success, and the execution."""
    started = time.perf_counter()
    answer = server.api(
        "POST",
        "/system/gc/schedule",
        auth=server.admin,
        json={
            "schedule": {"type": "Manual"},
            "parameters": {"delete_untagged": False, "workers": workers},
        },
    )
    if answer.status_code != 201:
        raise RuntimeError(f"starting GC answered {answer.status_code}: {answer.text}")
    path = answer.headers["Location"].removeprefix("/api/v2.0")
    while True:
        shown: dict[str, Any] = server.api("GET", path, auth=server.admin).json()
        if shown["job_status"] in ("Success", "Error", "Stopped"):
            seconds = time.perf_counter() - started
            break
        if time.perf_counter() - started > timeout:
            raise RuntimeError(f"GC {path} still {shown['job_status']} after {timeout:.0f} s")
        time.sleep(0.02)
    shown["log"] = server.api("GET", f"{path}/log", auth=server.admin).text
    if shown["job_status"] != "Success":
        raise RuntimeError(f"GC ended {shown['job_status']}: {shown['log'][-1000:]}")
    return seconds, shown


def measure_server(server: Any, count: int, workers: int = 1) -> dict[str, Any]:
    """Plant ``count`` blobs in ``server``'s storage, list them, collect them; the figures."""
    root = server.data_dir / "registry"
    planted = plant(root, count, seed=f"bench-{time.time_ns()}")
    listed_s, listed = list_seconds(root)
    dry_run_s = registry_dry_run_seconds(server.data_dir / "registry.yml")
    run_s, execution = run_gc(server, workers)
    left = [d for d in planted if (root / str(layout.blob_data(d))).exists()]
    if left:
        raise RuntimeError(f"{len(left)} of {count} planted blobs still on disk after the run")
    swept = int(execution["log"].rsplit("deleted ", 1)[1].split(" blobs", 1)[0])
    return {
        "blobs": count,
        "swept": swept,
        "workers": workers,
        "run_s": round(run_s, 3),
        "blobs_per_s": swept / run_s,
        "sweep_blobs_per_s": swept / max(1e-9, run_s - FENCE_DELAY_SECONDS),
        "fence_delay_s": FENCE_DELAY_SECONDS,
        "list_s": round(listed_s, 4),
        "listed": listed,
        "registry_dry_run_s": None if dry_run_s is None else round(dry_run_s, 3),
        "database": str(server.database_url).split(":", 1)[0].split("+", 1)[0],
    }


def measure(world: Any, count: int, workers: int = 1) -> dict[str, Any]:
    """The hook ``bench/run.py`` calls."""
    return measure_server(world.server, count, workers)


def main() -> int:
    from tests.harness import cleanup, start_harborlite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--blobs", type=int, default=10_000)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--postgres", action="store_true", help="also on a real PostgreSQL")
    args = parser.parse_args()
    kinds = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    for kind in kinds:
        pg = None
        database_url = None
        if kind == "postgresql":
            from tests.support.processes import PostgresServer

            pg = PostgresServer()
            pg.__enter__()
            database_url = pg.create_database("bench_gc")
        server = start_harborlite(database_url)
        try:
            print(kind, json.dumps(measure_server(server, args.blobs, args.workers)), flush=True)
        finally:
            cleanup(server)
            if pg is not None:
                pg.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
