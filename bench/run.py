"""harborlite's benchmark: harborlite against the bare registry it fronts, side by side.

    make bench                         # full: 1 GiB blobs and images, 3 interleaved rounds
    make bench BENCH_ARGS="--rounds 5"
    make bench-smoke                   # tiny sizes, one round: checks the bench still runs
    python bench/run.py --only scale   # the scale cases (bench/scale_cases.py lists the sizes)

Starts its own harborlite (with its embedded registry) in a temporary folder. In every round
each compared case runs on both sides, the order alternating between rounds; the tables show
medians. Load comes from separate processes (curl, skopeo, docker, bench/loadgen.py), never from
harborlite's own process. Results go to bench/results/ (or --out).
"""

from __future__ import annotations

import argparse
import importlib.util
import shutil
import statistics
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))

import blob_matrix
import cases as c
import docker_push
import report
import scale
import scale_cases
from environment import ROOT, World, start_world, stop_world

GiB = 1024 * 1024 * 1024
MiB = 1024 * 1024

CASES = [
    c.Case("blob_get", "blob GET (big blob)", "MB/s", True, c.Target("ratio_min", 1.3, ">= 1.3x")),
    c.Case(
        "blob_put_monolithic",
        "blob PUT monolithic",
        "MB/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case(
        "blob_put_chunked",
        "blob PUT chunked (PATCHes)",
        "MB/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
]
CASES += blob_matrix.CASES  # blob GET at two sizes, 1 and 8 clients, and the ceiling
for _method in ("HEAD", "GET"):
    for _by in ("tag", "digest"):
        for _conns in (16, 1):
            _name = f"manifest_{_method.lower()}_{_by}_c{_conns}"
            # issue 16: manifests stay where they are, at three times the registry or more
            _target = c.Target("ratio_min", 3.0, ">= 3.0x") if _conns == 16 else None
            CASES.append(
                c.Case(_name, f"manifest {_method} by {_by}, {_conns} conn", "req/s", True, _target)
            )
            CASES.append(
                c.Case(
                    _name + "_p50", f"manifest {_method} by {_by}, {_conns} conn, p50", "ms", True
                )
            )
            CASES.append(
                c.Case(
                    _name + "_p99", f"manifest {_method} by {_by}, {_conns} conn, p99", "ms", True
                )
            )
CASES += [
    c.Case(
        "manifest_get_tag_added_p50",
        "manifest GET by tag, 1 conn: p50 added",
        "ms",
        False,
        c.Target("max", 0.3, "<= 0.3 ms"),
    ),
    c.Case(
        "manifest_get_digest_added_p50",
        "manifest GET by digest, 1 conn: p50 added",
        "ms",
        False,
        c.Target("max", 0.3, "<= 0.3 ms"),
    ),
    c.Case(
        "skopeo_push_big",
        "skopeo push, big image",
        "MB/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case(
        "skopeo_pull_big",
        "skopeo pull, big image",
        "MB/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case(
        "skopeo_push_many",
        "skopeo push, 20 layers x 10 clients",
        "MB/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case("skopeo_pull_many", "skopeo pull, 20 layers x 10 clients", "MB/s", True),
]
CASES += docker_push.CASES  # docker push and pull of the big image, a fresh layer each push
CASES += [
    c.Case(
        "token_rate",
        "token issuance, cached credential, the same grant, 16 conn",
        "tokens/s",
        False,
        c.Target("min", 2000, ">= 2,000/s"),
    ),
    c.Case(
        "token_rate_fresh",
        "token issuance, cached credential, a new grant each (every token signed), 16 conn",
        "tokens/s",
        False,
    ),
    c.Case(
        "pull_backlog_drain",
        "harborlite busy after the manifest cases (pull + audit backlog)",
        "s",
        False,
    ),
    c.Case("rss_idle", "harborlite RSS, idle after start", "MiB", False),
    c.Case("rss_peak", "harborlite RSS, peak over the run", "MiB", False),
    c.Case(
        "rss_growth_big_transfer",
        "harborlite RSS growth over a big blob transfer",
        "MiB",
        False,
        c.Target("max", 20, "<= 20 MiB"),
    ),
    c.Case(
        "api_artifacts_p50",
        "API: page of 100 of N artifacts, p50",
        "ms",
        False,
        c.Target("max", 50, "<= 50 ms"),
    ),
    c.Case("api_artifacts_rate", "API: page of 100 of N artifacts, 1 conn", "req/s", False),
    c.Case("gc_blobs_per_s", "GC throughput, N unreferenced blobs", "blobs/s", False),
    c.Case("gc_run_s", "GC run over N unreferenced blobs, API start to Success", "s", False),
    c.Case("gc_list_ms", "GC baseline: listing the N blobs in storage", "ms", False),
    c.Case(
        "signed_pull_on",
        "manifest GET by tag, signed image, key policy on, 16 conn",
        "req/s",
        False,
    ),
    c.Case(
        "signed_pull_off", "manifest GET by tag, same image, policy off, 16 conn", "req/s", False
    ),
    c.Case(
        "signed_pull_ratio",
        "signed pulls: policy on / off (medians)",
        "x",
        False,
        c.Target("min", 0.8, ">= 0.8x"),
    ),
    c.Case(
        "replication_push",
        "replication A to B, push-based, big image (execution's bytes/s)",
        "MB/s",
        False,
    ),
    c.Case("replication_skopeo", "skopeo copy A to B, same image", "MB/s", False),
    c.Case("replication_ratio", "replication / skopeo copy (medians)", "x", False),
]
CASES += scale_cases.CASES


# the case groups --only chooses from (all of them by default)
GROUPS = (
    "blob",
    "manifest",
    "skopeo",
    "docker",
    "token",
    "api",
    "gc",
    "scale",
    "signed",
    "replication",
)


class Recorder:
    def __init__(self) -> None:
        self.values: dict[str, dict[str, list[float]]] = {}
        self.notes: list[str] = []
        self.floor: list[float] = []  # skopeo local copy MB/s, one per round

    def add(self, case: str, side: str, value: float) -> None:
        self.values.setdefault(case, {}).setdefault(side, []).append(value)

    def last(self, case: str, side: str) -> float:
        return self.values[case][side][-1]


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--smoke", action="store_true", help="tiny sizes, one round")
    parser.add_argument("--rounds", type=int, help="interleaved rounds (default 3, smoke 1)")
    parser.add_argument("--blob-mib", type=int, help="big blob size (default 1024, smoke 8)")
    parser.add_argument("--duration", type=float, help="seconds per request-rate case")
    parser.add_argument(
        "--pulls", type=int, help="skopeo pulls of the big image per side and round (default 3)"
    )
    parser.add_argument("--artifacts", type=int, help="artifacts to list (default 10000)")
    parser.add_argument("--gc-blobs", type=int, help="blobs to collect (default 10000)")
    scale_cases.add_arguments(parser)
    parser.add_argument(
        "--only",
        help=f"comma-separated case groups: {','.join(GROUPS)} (default all)",
    )
    parser.add_argument("--out", type=Path, help="results folder (default bench/results)")
    parser.add_argument("--workdir", type=Path, help="scratch folder (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the scratch folder")
    args = parser.parse_args()
    smoke = args.smoke
    args.rounds = args.rounds or (1 if smoke else 3)
    args.blob_mib = args.blob_mib or (8 if smoke else 1024)
    args.duration = args.duration or (0.5 if smoke else 4.0)
    args.pulls = args.pulls or (1 if smoke else 3)
    args.artifacts = args.artifacts or (200 if smoke else 10_000)
    args.gc_blobs = args.gc_blobs or (300 if smoke else 10_000)
    args.out = args.out or (ROOT / "bench" / "results" / ("smoke" if smoke else ""))
    args.groups = set((args.only or ",".join(GROUPS)).split(","))
    scale_cases.sizes(args)
    return args


def measured(recorder: Recorder, label: str, work: Callable[[], None]) -> None:
    """Run one case; a failure is recorded as a note, the run goes on."""
    try:
        work()
    except Exception as error:
        recorder.notes.append(f"{label} failed: {error!r}"[:500])
        traceback.print_exc()


def run_round(
    world: World,
    args: argparse.Namespace,
    number: int,
    rec: Recorder,
    scaled: scale_cases.ScaleRun | None = None,
    matrix: blob_matrix.BlobMatrix | None = None,
    dockers: docker_push.DockerRun | None = None,
) -> None:
    sides = ["registry", "harborlite"] if number % 2 == 0 else ["harborlite", "registry"]
    print(f"--- round {number + 1}/{args.rounds} (order: {', '.join(sides)})", flush=True)

    if "blob" in args.groups:
        c.warm_blob(world)
        for name, work in (
            ("blob_get", c.blob_get),
            ("blob_put_monolithic", c.blob_put_monolithic),
            ("blob_put_chunked", c.blob_put_chunked),
        ):
            for side in sides:

                def one(name: str = name, work: Any = work, side: str = side) -> None:
                    speed, growth = work(world, side)
                    rec.add(name, side, speed)
                    if side == "harborlite":
                        rec.add("rss_growth_big_transfer", side, growth)
                    print(f"{name:28s} {side:10s} {speed:10.1f} MB/s", flush=True)

                measured(rec, f"{name} on {side}", one)
        if matrix is not None:
            matrix.round(number, sides, lambda label, work: measured(rec, label, work))

    if "manifest" in args.groups:
        for method in ("HEAD", "GET"):
            for by in ("tag", "digest"):
                for conns in (16, 1):
                    name = f"manifest_{method.lower()}_{by}_c{conns}"
                    for side in sides:

                        def one(
                            method: str = method,
                            by: str = by,
                            conns: int = conns,
                            name: str = name,
                            side: str = side,
                        ) -> None:
                            answer = c.manifest_rate(
                                world,
                                side,
                                method=method,
                                by=by,
                                connections=conns,
                                duration=args.duration,
                            )
                            rec.add(name, side, answer["rps"])
                            rec.add(name + "_p50", side, answer["p50_ms"])
                            rec.add(name + "_p99", side, answer["p99_ms"])
                            print(
                                f"{name:28s} {side:10s} {answer['rps']:10.0f} req/s "
                                f"p50 {answer['p50_ms']:.3f} ms p99 {answer['p99_ms']:.3f} ms",
                                flush=True,
                            )

                        measured(rec, f"{name} on {side}", one)
        for by in ("tag", "digest"):
            name = f"manifest_get_{by}_c1_p50"
            try:
                added = rec.last(name, "harborlite") - rec.last(name, "registry")
                rec.add(f"manifest_get_{by}_added_p50", "harborlite", added)
            except (KeyError, IndexError):
                pass

        # Every manifest GET is a pull with an audit entry, written in the background: let
        # harborlite catch up before the next case, and report how long that took.
        drained = c.wait_idle(world)
        rec.add("pull_backlog_drain", "harborlite", drained)
        print(f"{'pull_backlog_drain':28s} {'harborlite':10s} {drained:10.1f} s", flush=True)

    if "skopeo" in args.groups:
        pushed: dict[str, str] = {}
        for side in sides:
            repo = f"big-{side}-r{number}"

            def push(side: str = side, repo: str = repo) -> None:
                speed = c.skopeo_push(world, side, world.big_layout, repo)
                rec.add("skopeo_push_big", side, speed)
                pushed[side] = repo
                print(f"{'skopeo_push_big':28s} {side:10s} {speed:10.1f} MB/s", flush=True)

            measured(rec, f"skopeo big push on {side}", push)
        # A pull is mostly skopeo's own work (see skopeo_local_floor), so one pull per side is
        # mostly noise: several, alternating sides, and the median counts.
        for repeat in range(args.pulls):
            for side in sides if repeat % 2 == 0 else sides[::-1]:
                if side not in pushed:
                    continue

                def pull(side: str = side) -> None:
                    speed = c.skopeo_pull(world, side, world.big_layout, pushed[side])
                    rec.add("skopeo_pull_big", side, speed)
                    print(f"{'skopeo_pull_big':28s} {side:10s} {speed:10.1f} MB/s", flush=True)

                measured(rec, f"skopeo big pull on {side}", pull)

        def floor() -> None:
            speed = c.skopeo_local_floor(world, world.big_layout)
            rec.floor.append(speed)
            print(f"{'skopeo_local_floor':28s} {'-':10s} {speed:10.1f} MB/s", flush=True)

        measured(rec, "skopeo local copy", floor)
        for side in sides:
            repos = [f"many-{side}-r{number}-c{i}" for i in range(10)]

            def many(side: str = side, repos: list[str] = repos) -> None:
                speed = c.skopeo_concurrent(world, side, world.many_layout, repos, push=True)
                rec.add("skopeo_push_many", side, speed)
                print(f"{'skopeo_push_many':28s} {side:10s} {speed:10.1f} MB/s", flush=True)
                speed = c.skopeo_concurrent(world, side, world.many_layout, repos, push=False)
                rec.add("skopeo_pull_many", side, speed)
                print(f"{'skopeo_pull_many':28s} {side:10s} {speed:10.1f} MB/s", flush=True)

            measured(rec, f"skopeo many on {side}", many)

    if dockers is not None:
        dockers.round(number, sides, lambda label, work: measured(rec, label, work))

    if "token" in args.groups:

        def tokens() -> None:
            answer = c.token_rate(world, 16, args.duration)
            rec.add("token_rate", "harborlite", answer["rps"])
            # 20,000 repositories in turn: no grant asked twice in a run (about 12,000 tokens)
            fresh = c.token_rate(world, 16, args.duration, vary=20_000)
            rec.add("token_rate_fresh", "harborlite", fresh["rps"])
            print(
                f"{'token_rate':28s} {'harborlite':10s} {answer['rps']:10.0f} tokens/s, "
                f"{fresh['rps']:.0f} tokens/s a new grant each",
                flush=True,
            )

        measured(rec, "token issuance", tokens)

    if scaled is not None:
        scaled.round(world, number, sides, lambda label, work: measured(rec, label, work))


def _load(path: Path, name: str) -> Any:
    """Import another engineer's bench module by path (registered, so dataclasses work)."""
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def listing(world: World, args: argparse.Namespace, rec: Recorder) -> None:
    """The API owner's bench/api_listing.py when present, else our own seeding."""
    own = ROOT / "bench" / "api_listing.py"
    if own.exists():
        module = _load(own, "api_listing")
        if hasattr(module, "measure"):
            answer = module.measure(world, args.artifacts, args.duration * args.rounds)
            rec.add("api_artifacts_p50", "harborlite", answer["p50_ms"])
            rec.add("api_artifacts_rate", "harborlite", answer["rps"])
            rec.notes.append(f"API listing measured by bench/api_listing.py: {answer}")
            return
    from listing import seed_artifacts

    started = time.perf_counter()
    repository = seed_artifacts(world, "many-artifacts", args.artifacts)
    print(f"seeded {args.artifacts} artifacts in {time.perf_counter() - started:.1f}s", flush=True)
    answer = c.api_listing(world, repository.split("/", 1)[1], args.duration * 2)
    statuses = answer["statuses"]
    if set(statuses) != {"200"}:
        rec.notes.append(
            f"API artifact listing answered {statuses} (endpoint not there yet?); not counted"
        )
        return
    rec.add("api_artifacts_p50", "harborlite", answer["p50_ms"])
    rec.add("api_artifacts_rate", "harborlite", answer["rps"])
    print(f"{'api_artifacts':28s} {'harborlite':10s} p50 {answer['p50_ms']:.2f} ms", flush=True)


def portal(world: World, args: argparse.Namespace, rec: Recorder) -> list[dict[str, Any]]:
    """bench/portal_pages.py (the portal owner's) when present: one row per page, harborlite
    only (it seeds and starts its own harborlite), p50 as the value, met = p95 under target."""
    path = ROOT / "bench" / "portal_pages.py"
    if not path.exists():
        return []
    module = _load(path, "portal_pages")
    pages: list[dict[str, Any]] = module.run_portal_bench(world.workdir, smoke=args.smoke)
    rows: list[dict[str, Any]] = []
    for page in pages:
        rows.append(
            {
                "case": page["case"],
                "title": f"{page['title']}, p50",
                "unit": page.get("unit", "ms"),
                "registry": [],
                "harborlite": [page["value"]],
                "median_registry": None,
                "median_harborlite": page["value"],
                "ratio": None,
                "target": f"p95 < {page['target_ms']:g} ms (p95 {page['p95']:g})",
                "met": page["ok"],
            }
        )
    return rows


def signed_pulls(world: World, args: argparse.Namespace, rec: Recorder) -> None:
    """bench/signed_pulls.py: a signed image's pulls with the key policy on, beside off."""
    module = _load(ROOT / "bench" / "signed_pulls.py", "signed_pulls")
    answer = module.measure(world.server, args.duration, max(3, args.rounds))
    for value in answer["on_rps"]:
        rec.add("signed_pull_on", "harborlite", value)
    for value in answer["off_rps"]:
        rec.add("signed_pull_off", "harborlite", value)
    rec.add("signed_pull_ratio", "harborlite", answer["ratio"])
    (on_lo, on_hi), (off_lo, off_hi) = answer["spread_on"], answer["spread_off"]
    rec.notes.append(
        f"signed pulls, {answer['connections']} conn, {len(answer['on_rps'])} rounds of "
        f"{answer['duration_s']:g} s each way: policy on {on_lo:,.0f} to {on_hi:,.0f} req/s, "
        f"off {off_lo:,.0f} to {off_hi:,.0f} req/s; ratio of medians {answer['ratio']:.2f}"
    )
    print(f"{'signed_pulls':28s} {'harborlite':10s} ratio {answer['ratio']:.2f}", flush=True)


def replication(world: World, args: argparse.Namespace, rec: Recorder) -> None:
    """bench/replication.py: the big image replicated from the world's harborlite to a second
    one, beside skopeo copying it between the two."""
    module = _load(ROOT / "bench" / "replication.py", "replication_bench")
    answer = module.measure(world.server, world.big_layout, args.rounds, world.workdir)
    for value in answer["replication_mbps"]:
        rec.add("replication_push", "harborlite", value)
    for value in answer["skopeo_mbps"]:
        rec.add("replication_skopeo", "harborlite", value)
    rec.add("replication_ratio", "harborlite", answer["ratio"])
    (r_lo, r_hi), (s_lo, s_hi) = answer["spread_replication"], answer["spread_skopeo"]
    rec.notes.append(
        f"replication between two local harborlite instances, {answer['rounds']} round(s) of a "
        f"{answer['image_bytes'] / c.MB:,.0f} MB image into a new project each: replication "
        f"{r_lo:,.0f} to {r_hi:,.0f} MB/s (the execution's bytes over its seconds), skopeo copy "
        f"A to B {s_lo:,.0f} to {s_hi:,.0f} MB/s; ratio of medians {answer['ratio']:.2f}"
    )
    print(
        f"{'replication':28s} {'harborlite':10s} {answer['median_replication']:10.1f} MB/s "
        f"(skopeo {answer['median_skopeo']:.1f} MB/s)",
        flush=True,
    )


def gc(world: World, args: argparse.Namespace, rec: Recorder) -> None:
    """bench/gc_bench.py: one collection of N planted blobs; the registry has no online GC,
    so the listing of the same blobs is the baseline."""
    module = _load(ROOT / "bench" / "gc_bench.py", "gc_bench")
    answer = module.measure(world, args.gc_blobs)
    rec.add("gc_blobs_per_s", "harborlite", answer["blobs_per_s"])
    rec.add("gc_run_s", "harborlite", answer["run_s"])
    rec.add("gc_list_ms", "harborlite", answer["list_s"] * 1000)
    dry_run = answer["registry_dry_run_s"]
    rec.notes.append(
        f"GC: {answer['swept']} blobs of {module.BLOB_BYTES} B swept by {answer['workers']} "
        f"worker(s) in {answer['run_s']:.1f} s ({answer['blobs_per_s']:,.0f}/s; "
        f"{answer['sweep_blobs_per_s']:,.0f}/s without the fixed {answer['fence_delay_s']:g} s "
        f"fence delay), {answer['database']}; listing the {answer['listed']} blobs of the store "
        f"takes {answer['list_s'] * 1000:.0f} ms"
        + (
            f"; the registry's offline garbage-collect --dry-run over it {dry_run * 1000:,.0f} ms"
            if dry_run is not None
            else ""
        )
    )
    print(
        f"{'gc':28s} {'harborlite':10s} {answer['blobs_per_s']:10.0f} blobs/s "
        f"({answer['run_s']:.1f} s; listing {answer['list_s'] * 1000:.0f} ms)",
        flush=True,
    )


def main() -> int:
    args = parse_args()
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="harborlite-bench-"))
    workdir.mkdir(parents=True, exist_ok=True)
    big = args.blob_mib * MiB
    chunk = max(MiB, big // 16)
    print(
        f"bench: {'smoke' if args.smoke else 'full'}, {args.rounds} rounds, "
        f"blob {args.blob_mib} MiB, scratch {workdir}",
        flush=True,
    )
    started = time.perf_counter()
    # 1,000 clients hold 1,000 sockets in harborlite (and as many to the registry): raise the
    # soft open-file limit before harborlite starts, so it inherits it
    limit = scale.raise_open_files(4 * args.clients + 2048)
    world = start_world(
        workdir,
        blob_size=big,
        chunk_size=chunk,
        big_size=big,
        many_layers=20,
        many_layer_size=(64 * 1024 if args.smoke else 4 * MiB),
    )
    rec = Recorder()
    rec.notes.append(limit)
    extra_rows: list[dict[str, Any]] = []
    scaled = scale_cases.ScaleRun(args, rec) if "scale" in args.groups else None
    matrix: blob_matrix.BlobMatrix | None = None
    dockers: docker_push.DockerRun | None = None
    try:
        pid = world.harborlite_pid()
        time.sleep(1.0)
        rec.add("rss_idle", "harborlite", c.rss_mib(pid))
        print(
            f"setup took {time.perf_counter() - started:.0f}s; harborlite idle RSS "
            f"{c.rss_mib(pid):.1f} MiB",
            flush=True,
        )
        if "blob" in args.groups:
            try:
                matrix = blob_matrix.BlobMatrix(world, args.smoke, rec.add)
                rec.notes.append(matrix.note())
            except Exception as error:
                rec.notes.append(f"blob GET matrix setup failed: {error!r}"[:500])
                traceback.print_exc()
        if "docker" in args.groups:
            try:
                dockers = docker_push.DockerRun(world, args.blob_mib, rec.add)
            except Exception as error:
                rec.notes.append(f"docker setup failed: {error!r}"[:500])
                traceback.print_exc()
        for number in range(args.rounds):
            run_round(world, args, number, rec, scaled, matrix, dockers)
        if dockers is not None:
            rec.notes.append(dockers.note())
        if scaled is not None:
            measured(rec, "scale listing", lambda: scaled.listing(world))
        if "api" in args.groups:
            measured(rec, "API listing", lambda: listing(world, args, rec))
            try:
                extra_rows = portal(world, args, rec)
            except Exception as error:
                rec.notes.append(f"portal pages failed: {error!r}"[:500])
        if "gc" in args.groups:
            measured(rec, "GC", lambda: gc(world, args, rec))
        if "signed" in args.groups:
            measured(rec, "signed pulls", lambda: signed_pulls(world, args, rec))
        if "replication" in args.groups:
            measured(rec, "replication", lambda: replication(world, args, rec))
        rec.add("rss_peak", "harborlite", c.peak_rss_mib(pid))
    finally:
        if dockers is not None:
            dockers.close()
        if scaled is not None:
            scaled.close()
        stop_world(world)
        if not args.keep:
            shutil.rmtree(workdir, ignore_errors=True)
    rows = report.summarize(CASES, rec.values, blob_matrix.CEILINGS) + extra_rows
    rec.notes.append(
        f"big blob and big image: {args.blob_mib} MiB; 20-layer image: 20 x "
        f"{(64 if args.smoke else 4096)} KiB, pushed and pulled by 10 skopeo clients at once; "
        f"request-rate cases {args.duration:g} s each; {args.artifacts} artifacts listed"
    )
    pulls = rec.values.get("skopeo_pull_big", {})
    if pulls.get("registry") and pulls.get("harborlite"):
        spread = "; ".join(
            f"{side} {min(pulls[side]):,.0f} to {max(pulls[side]):,.0f} MB/s"
            for side in ("registry", "harborlite")
        )
        rec.notes.append(f"skopeo pull of the big image, every pull: {spread}")
    if rec.floor:
        rec.notes.append(
            f"skopeo pulls of the big image: {args.pulls} per side and round, written to "
            f"{c.pull_root(world, args.blob_mib * c.MiB)}; skopeo copying the same image between "
            f"two local OCI layouts there (no server at all) runs at "
            f"{statistics.median(rec.floor):,.0f} MB/s (median), the ceiling of any pull"
        )
    meta = {
        "mode": "smoke" if args.smoke else "full",
        "rounds": args.rounds,
        "blob_mib": args.blob_mib,
        "finished": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "seconds": round(time.perf_counter() - started),
        "machine": report.machine(),
        "notes": rec.notes,
    }
    report.write(args.out, rows, meta)
    print(report.markdown(rows, meta))
    print(f"results in {args.out}", flush=True)
    missing = [r["case"] for r in rows if not r["harborlite"] and r["case"] in NEEDED]
    return 1 if missing and args.smoke and args.only is None else 0


NEEDED = {case.name for case in CASES} - {"api_artifacts_p50", "api_artifacts_rate"}

if __name__ == "__main__":
    sys.exit(main())
