"""Benchmark: replication throughput between two local harborlite instances, beside a
``skopeo copy`` of the same image between them.

The world's harborlite is A; a second harborlite B (its own data folder and registry) is
started here with ``tests.harness.start_harborlite``. The world's big image (its OCI layout,
uncompressed random layers) is pushed to A once as ``bench/replica-src:latest``. Each round:

- **replication**: a push-based policy on A (endpoint B, type ``harbor``, admin credentials)
  copies it into a namespace B does not have yet (the destination project is created by the
  replication, so nothing is already there: every blob crosses the wire); the execution's own
  ``extra_attrs`` (bytes moved over the run's seconds) give MB/s;
- **skopeo**: ``skopeo copy docker://A/... docker://B/...`` (``--src-creds/--dest-creds``,
  TLS verification off) of the same image into a fresh repository of B, timed, image bytes over
  the wall time.

The two alternate in order each round; returned are every round's MB/s each way, the medians,
the ratio (replication over skopeo) and each side's spread.

Entry points:

- ``measure(world, rounds)`` for ``bench/run.py``;
- ``python bench/replication.py [--smoke]``: its own harborlite A and B, prints JSON.
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
for folder in (ROOT, ROOT / "bench"):
    if str(folder) not in sys.path:
        sys.path.insert(0, str(folder))

from tests.harness import Harborlite, cleanup, start_harborlite  # noqa: E402
from tests.support.clients import ContainersHome, skopeo_copy  # noqa: E402

MB = 1_000_000
SOURCE_PROJECT = "bench"
SOURCE_REPOSITORY = f"{SOURCE_PROJECT}/replica-src"
TIMEOUT = 1800.0


def _ok(answer: Any, what: str) -> Any:
    if answer.status_code not in (200, 201):
        raise RuntimeError(f"{what} answered {answer.status_code}: {answer.text[:300]}")
    return answer


def _created_id(answer: Any, what: str) -> int:
    return int(_ok(answer, what).headers["Location"].rsplit("/", 1)[1])


def image_bytes(layout: Path) -> int:
    return sum(p.stat().st_size for p in (layout / "blobs").rglob("*") if p.is_file())


def _skopeo(src: str, dst: str, a: Harborlite, b: Harborlite, scratch: Path) -> None:
    home = Path(tempfile.mkdtemp(prefix="bench-repl-home-", dir=scratch))
    try:
        skopeo_copy(
            src,
            dst,
            home=ContainersHome(home),
            extra=[
                "--src-creds",
                f"{a.admin[0]}:{a.admin[1]}",
                "--dest-creds",
                f"{b.admin[0]}:{b.admin[1]}",
            ]
            if src.startswith("docker://")
            else ["--dest-creds", f"{a.admin[0]}:{a.admin[1]}"],
        )
    finally:
        shutil.rmtree(home, ignore_errors=True)


def _wait(a: Harborlite, execution_id: int) -> dict[str, Any]:
    deadline = time.monotonic() + TIMEOUT
    while True:
        shown: dict[str, Any] = _ok(
            a.api("GET", f"/replication/executions/{execution_id}", auth=a.admin), "execution"
        ).json()
        if shown["status"] in ("Succeed", "Failed", "Stopped"):
            return shown
        if time.monotonic() > deadline:
            raise RuntimeError(f"replication execution {execution_id} still {shown['status']}")
        time.sleep(0.2)


def _replicate(a: Harborlite, endpoint: int, namespace: str) -> dict[str, Any]:
    policy = _created_id(
        a.api(
            "POST",
            "/replication/policies",
            auth=a.admin,
            json={
                "name": f"bench-{namespace}",
                "dest_registry": {"id": endpoint},
                "dest_namespace": namespace,
                "dest_namespace_replace_count": 1,
                "filters": [{"type": "name", "value": SOURCE_REPOSITORY}],
            },
        ),
        "creating the policy",
    )
    started = time.perf_counter()
    execution = _created_id(
        a.api("POST", "/replication/executions", auth=a.admin, json={"policy_id": policy}),
        "starting the execution",
    )
    run = _wait(a, execution)
    wall = time.perf_counter() - started
    if run["status"] != "Succeed":
        raise RuntimeError(f"replication {namespace} ended {run['status']}: {run}")
    extra = run.get("extra_attrs") or {}
    return {"bytes": int(extra["bytes"]), "seconds": float(extra["seconds"]), "wall": wall}


def measure(a: Harborlite, layout: Path, rounds: int, scratch: Path) -> dict[str, Any]:
    """``a``: a harborlite with the project ``bench``; ``layout``: the image's OCI layout."""
    size = image_bytes(layout)
    b = start_harborlite(data_dir=Path(tempfile.mkdtemp(prefix="harborlite-b-", dir=scratch)))
    try:
        _skopeo(
            f"oci:{layout}:latest", f"docker://{a.host}/{SOURCE_REPOSITORY}:latest", a, b, scratch
        )
        endpoint = _created_id(
            a.api(
                "POST",
                "/registries",
                auth=a.admin,
                json={
                    "name": f"bench-b-{time.time_ns() % 10**9}",
                    "type": "harbor",
                    "url": b.url,
                    "insecure": True,
                    "credential": {
                        "type": "basic",
                        "access_key": b.admin[0],
                        "access_secret": b.admin[1],
                    },
                },
            ),
            "adding B as an endpoint",
        )
        b.create_project("skopeo-copy")
        stamp = time.time_ns() % 10**6
        speeds: dict[str, list[float]] = {"replication": [], "skopeo": []}
        moved: list[int] = []
        walls: list[float] = []
        for number in range(rounds):
            order = ("replication", "skopeo") if number % 2 == 0 else ("skopeo", "replication")
            for side in order:
                if side == "replication":
                    run = _replicate(a, endpoint, f"repl{stamp}r{number}")
                    if run["bytes"] < size * 0.9:
                        raise RuntimeError(f"replication moved {run['bytes']} of {size} bytes")
                    speeds[side].append(run["bytes"] / run["seconds"] / MB)
                    moved.append(run["bytes"])
                    walls.append(run["wall"])
                else:
                    started = time.perf_counter()
                    _skopeo(
                        f"docker://{a.host}/{SOURCE_REPOSITORY}:latest",
                        f"docker://{b.host}/skopeo-copy/r{stamp}-{number}:latest",
                        a,
                        b,
                        scratch,
                    )
                    speeds[side].append(size / (time.perf_counter() - started) / MB)
    except subprocess.CalledProcessError as error:
        raise RuntimeError(f"skopeo failed: {error.stderr[-500:]}") from None
    finally:
        cleanup(b)
    replication = statistics.median(speeds["replication"])
    skopeo = statistics.median(speeds["skopeo"])
    return {
        "replication_mbps": speeds["replication"],
        "skopeo_mbps": speeds["skopeo"],
        "median_replication": replication,
        "median_skopeo": skopeo,
        "ratio": replication / skopeo if skopeo else 0.0,
        "spread_replication": (min(speeds["replication"]), max(speeds["replication"])),
        "spread_skopeo": (min(speeds["skopeo"]), max(speeds["skopeo"])),
        "image_bytes": size,
        "bytes_moved": moved,
        "wall_seconds": walls,
        "rounds": rounds,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--smoke", action="store_true", help="an 8 MiB image, one round")
    parser.add_argument("--rounds", type=int)
    parser.add_argument("--mib", type=int, help="image size (default 1024, smoke 8)")
    args = parser.parse_args()
    from tests.support.images import build_oci_layout

    scratch = Path(tempfile.mkdtemp(prefix="bench-replication-"))
    a = start_harborlite()
    try:
        a.create_project(SOURCE_PROJECT)
        mib = args.mib or (8 if args.smoke else 1024)
        layout = scratch / "layout"
        build_oci_layout(layout, "latest", [mib * 1024 * 1024], seed=2, compresslevel=0)
        answer = measure(a, layout, args.rounds or (1 if args.smoke else 3), scratch)
    finally:
        cleanup(a)
        shutil.rmtree(scratch, ignore_errors=True)
    print(json.dumps(answer, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
