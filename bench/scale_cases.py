"""The ``scale`` group of ``bench/run.py``: its rows, its sizes and how a run drives it.

Sizes (full / ``--smoke``): ``--clients`` 1000 / 20 pullers, ``--pushers`` 200 / 5 (each
pushing ``--push-images`` 2 / 1 images), ``--tags`` 100,000 / 300 tags in one repository,
``--scale-artifacts`` 1,000,000 / 3,000 artifacts in one project, ``--scale-seconds`` 10 / 1
per pull case.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

import cases as c
import scale
import scale_listing
from environment import World

ZERO = c.Target("max", 0, "0")
RSS = c.Target("max", 20, "<= 20 MiB")

CASES = [
    c.Case("scale_pull_errors", "scale: N pullers, errors", "count", True, ZERO),
    c.Case("scale_pull_rps", "scale: N pullers, requests/s", "req/s", True),
    c.Case("scale_pull_p50", "scale: N pullers, p50", "ms", True),
    c.Case("scale_pull_p99", "scale: N pullers, p99", "ms", True),
    c.Case("scale_pull_rss", "scale: N pullers, peak RSS of the server", "MiB", True),
    c.Case("scale_pull_fds", "scale: N pullers, peak open files of the server", "files", True),
    c.Case("rss_growth_scale_pull", "harborlite RSS growth over N pullers", "MiB", False, RSS),
    c.Case("scale_push_errors", "scale: N pushers on PostgreSQL, errors", "count", True, ZERO),
    c.Case("scale_push_rate", "scale: N pushers on PostgreSQL, pushes/s", "push/s", True),
    c.Case("scale_push_p99", "scale: N pushers on PostgreSQL, push p99", "ms", True),
    c.Case(
        "scale_push_pg_connections",
        "scale: N pushers, peak PostgreSQL connections of harborlite",
        "conns",
        False,
        # harborlite/db/engine.py: pool_size 20 + max_overflow 10 (the run's notes read it back)
        c.Target("max", 30, "<= pool (30)"),
    ),
    c.Case("rss_growth_scale_push", "harborlite RSS growth over N pushers", "MiB", False, RSS),
    c.Case("scale_seed_s", "scale: seeding the tags and artifacts into the index", "s", False),
    c.Case(
        "scale_api_tags_artifacts_p50",
        "scale: API artifact pages, repository of T tags, p50",
        "ms",
        False,
        c.Target("max", 50, "<= 50 ms"),
    ),
    c.Case(
        "scale_api_tag_list_p50",
        "scale: API tag list pages of an artifact with T tags, p50",
        "ms",
        False,
        c.Target("max", 50, "<= 50 ms"),
    ),
    c.Case(
        "scale_api_artifacts_p50",
        "scale: API artifact pages, project of A artifacts, p50",
        "ms",
        False,
        c.Target("max", 50, "<= 50 ms"),
    ),
    c.Case(
        "scale_portal_tags_repository_p50",
        "scale: portal repository page, T tags, p50",
        "ms",
        False,
        c.Target("max", 100, "<= 100 ms"),
    ),
    c.Case(
        "scale_portal_artifacts_repository_p50",
        "scale: portal repository page, A artifacts, p50",
        "ms",
        False,
        c.Target("max", 100, "<= 100 ms"),
    ),
    c.Case(
        "scale_v2_tags_paging",
        "scale: /v2/<name>/tags/list?n=1000 through T tags",
        "tags/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case(
        "scale_v2_tags_whole",
        "scale: /v2/<name>/tags/list without n (both answer whole)",
        "tags/s",
        True,
        c.Target("ratio_min", 1.0, ">= 1.0x"),
    ),
    c.Case(
        "rss_growth_scale_listing", "harborlite RSS growth over the listings", "MiB", False, RSS
    ),
]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--clients", type=int, help="scale: concurrent pullers (default 1000)")
    parser.add_argument("--pushers", type=int, help="scale: concurrent pushers (default 200)")
    parser.add_argument("--push-images", type=int, help="scale: images per pusher (default 2)")
    parser.add_argument("--tags", type=int, help="scale: tags in one repository (default 100000)")
    parser.add_argument(
        "--scale-artifacts", type=int, help="scale: artifacts in one project (default 1000000)"
    )
    parser.add_argument("--scale-seconds", type=float, help="scale: seconds per pull case")
    parser.add_argument(
        "--load-processes", type=int, default=2, help="scale: load generator processes"
    )


def sizes(args: argparse.Namespace) -> None:
    smoke = args.smoke
    args.clients = args.clients or (20 if smoke else 1000)
    args.pushers = args.pushers or (5 if smoke else 200)
    args.push_images = args.push_images or (1 if smoke else 2)
    args.tags = args.tags or (300 if smoke else 100_000)
    args.scale_artifacts = args.scale_artifacts or (3_000 if smoke else 1_000_000)
    args.scale_seconds = args.scale_seconds or (1.0 if smoke else 10.0)


def _statuses(answer: dict[str, Any]) -> str:
    text = ", ".join(f"{k}: {v:,}" for k, v in answer["statuses"].items())
    if answer["failures"]:
        text += f"; first failures: {answer['failures'][:3]}"
    return text


class ScaleRun:
    """The scale cases of one bench run; the PostgreSQL world lives across its rounds."""

    def __init__(self, args: argparse.Namespace, rec: Any) -> None:
        self.args, self.rec = args, rec
        self.push_world: scale.PushWorld | None = None

    def round(
        self,
        world: World,
        number: int,
        sides: list[str],
        measured: Callable[[str, Callable[[], None]], None],
    ) -> None:
        args, rec = self.args, self.rec
        for side in sides:

            def pull(side: str = side) -> None:
                answer = scale.pull_clients(
                    world, side, args.clients, args.scale_seconds, args.load_processes
                )
                rec.add("scale_pull_errors", side, answer["errors"])
                rec.add("scale_pull_rps", side, answer["rps"])
                rec.add("scale_pull_p50", side, answer["p50_ms"])
                rec.add("scale_pull_p99", side, answer["p99_ms"])
                rec.add("scale_pull_rss", side, answer["rss_peak_mib"])
                rec.add("scale_pull_fds", side, answer["open_files_peak"])
                if side == "harborlite":
                    rec.add("rss_growth_scale_pull", side, answer["rss_growth_mib"])
                rec.notes.append(
                    f"{args.clients} pullers on {side}, round {number + 1}: {_statuses(answer)}"
                )
                print(
                    f"{'scale_pull':28s} {side:10s} {answer['rps']:10.0f} req/s "
                    f"p50 {answer['p50_ms']:.1f} ms p99 {answer['p99_ms']:.1f} ms "
                    f"errors {answer['errors']} rss {answer['rss_peak_mib']:.0f} MiB "
                    f"fds {answer['open_files_peak']}",
                    flush=True,
                )

            measured(f"scale pull on {side}", pull)

        if self.push_world is None:
            started = time.perf_counter()
            self.push_world = scale.PushWorld(world.workdir, args.pushers)
            print(
                f"PostgreSQL harborlite with {args.pushers} pushers ready in "
                f"{time.perf_counter() - started:.0f}s",
                flush=True,
            )
        push_world = self.push_world
        for side in sides:

            def push(side: str = side) -> None:
                answer = push_world.push(
                    side, f"r{number}", args.push_images, 4096, args.load_processes
                )
                rec.add("scale_push_errors", side, answer["errors"])
                rec.add("scale_push_rate", side, answer["rate"])
                rec.add("scale_push_p99", side, answer["p99_ms"])
                if side == "harborlite":
                    rec.add("scale_push_pg_connections", side, answer["pg_connections_peak"])
                    rec.add("rss_growth_scale_push", side, answer["rss_growth_mib"])
                size, overflow = push_world.pool
                rec.notes.append(
                    f"{args.pushers} pushers x {args.push_images} images on {side}, round "
                    f"{number + 1}: {_statuses(answer)}; harborlite's PostgreSQL connections "
                    f"(application_name harborlite) peaked at {answer['pg_connections_peak']} "
                    f"({answer['pg_samples']} samples; harborlite's pool: pool_size {size} + "
                    f"max_overflow {overflow}); other clients of the database "
                    f"{answer['pg_others_peak']}, PostgreSQL's own workers (autovacuum) "
                    f"{answer['pg_workers_peak']}"
                )
                print(
                    f"{'scale_push':28s} {side:10s} {answer['rate']:10.1f} push/s "
                    f"p99 {answer['p99_ms']:.0f} ms errors {answer['errors']} "
                    f"pg connections {answer['pg_connections_peak']}",
                    flush=True,
                )

            measured(f"scale push on {side}", push)

    def listing(self, world: World) -> None:
        answer = scale_listing.measure(
            world, self.args.tags, self.args.scale_artifacts, smoke=self.args.smoke
        )
        rec = self.rec
        for key, value in answer["values"].items():
            for side, number in value.items():
                rec.add(key, side, number)
        rec.notes += answer["notes"]

    def close(self) -> None:
        if self.push_world is not None:
            self.push_world.close()
            self.push_world = None
