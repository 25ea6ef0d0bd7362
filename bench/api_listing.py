"""Benchmark: pages of ``GET .../artifacts`` in a repository holding 10,000 artifacts.

The artifacts are seeded straight into harborlite's database (index rows: what the API lists),
every one tagged, one in ten an index naming two children, so the page query also hides
children and fetches tags and references for the page. Then pages are fetched over HTTP from a
running harborlite: first, middle and last page, a tag filter and a sort, in turn.

Entry points:

- ``measure(world, count, duration)`` for ``bench/run.py`` (its ``World`` has ``server``, a
  ``tests.harness.Harborlite``); returns ``{"p50_ms", "p95_ms", "max_ms", "rps", ...}``.
- ``await bench_artifact_listing(base_url, database_url, ...)`` for any running harborlite.
- ``python bench/api_listing.py [--count N] [--postgres]``: starts its own harborlite
  (SQLite, and PostgreSQL with ``--postgres``) and prints the results as JSON.
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import json
import statistics
import sys
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import insert, select

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from harborlite.artifacts.top_level import refresh_repository  # noqa: E402
from harborlite.db.engine import make_engine, make_sessionmaker  # noqa: E402
from harborlite.db.models import (  # noqa: E402
    Artifact,
    ArtifactReference,
    Project,
    Repository,
    Tag,
    utcnow,
)

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
BATCH = 1000


def _digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


async def seed(
    database_url: str, project_name: str, repository: str, count: int, batch: int = BATCH
) -> None:
    """``count`` tagged top-level artifacts in ``project_name/repository`` (the project exists;
    the repository is made, or reused when there), ``batch`` rows per bulk insert.

    One in ten is an index with two (untagged) children, which the listing must hide.
    """
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            project_id = (
                await session.execute(select(Project.id).where(Project.name == project_name))
            ).scalar_one()
            full = f"{project_name}/{repository}"
            found = (
                await session.execute(select(Repository).where(Repository.name == full))
            ).scalar_one_or_none()
            repo = found or Repository(
                project_id=project_id, name=full, description="", pull_count=0
            )
            if found is None:
                session.add(repo)
                await session.flush()
            start = utcnow() - timedelta(days=1)
            for first in range(0, count, batch):
                rows: list[dict[str, Any]] = []
                children: list[dict[str, Any]] = []
                for n in range(first, min(count, first + batch)):
                    is_index = n % 10 == 0
                    when = start + timedelta(seconds=n)
                    base = {
                        "repository_id": repo.id,
                        "type": "IMAGE",
                        "pusher": "bench",
                        "pull_count": 0,
                        "annotations": {},
                    }
                    references = []
                    if is_index:
                        for arch in ("amd64", "arm64"):
                            child = _digest(full, n, arch)
                            references.append(
                                {
                                    "child_digest": child,
                                    "child_media_type": OCI_MANIFEST,
                                    "platform": {"architecture": arch, "os": "linux"},
                                }
                            )
                            children.append(
                                {
                                    **base,
                                    "digest": child,
                                    "media_type": OCI_CONFIG,
                                    "manifest_media_type": OCI_MANIFEST,
                                    "size": 2000,
                                    "push_time": when,
                                    "extra_attrs": {"architecture": arch, "os": "linux"},
                                    "references": [],
                                }
                            )
                    rows.append(
                        {
                            **base,
                            "digest": _digest(full, n),
                            "media_type": OCI_INDEX if is_index else OCI_CONFIG,
                            "manifest_media_type": OCI_INDEX if is_index else OCI_MANIFEST,
                            "size": 1000 + n,
                            "push_time": when,
                            "extra_attrs": {} if is_index else {"architecture": "amd64"},
                            "references": references,
                        }
                    )
                await session.execute(insert(Artifact), rows + children)
                ids = dict(
                    (
                        await session.execute(
                            select(Artifact.digest, Artifact.id).where(
                                Artifact.repository_id == repo.id,
                                Artifact.digest.in_([r["digest"] for r in rows + children]),
                            )
                        )
                    ).all()
                )
                await session.execute(
                    insert(Tag),
                    [
                        {
                            "repository_id": repo.id,
                            "artifact_id": ids[r["digest"]],
                            "name": f"v{first + i}",
                            "push_time": r["push_time"],
                        }
                        for i, r in enumerate(rows)
                    ],
                )
                links = [
                    {
                        "parent_id": ids[r["digest"]],
                        "child_id": ids[ref["child_digest"]],
                        "child_digest": ref["child_digest"],
                    }
                    for r in rows
                    for ref in r["references"]
                ]
                if links:
                    await session.execute(insert(ArtifactReference), links)
            await refresh_repository(session, repo.id)  # bulk rows: children are not top level
            await session.commit()
    finally:
        await engine.dispose()


def _pages(project: str, repository: str, count: int) -> list[tuple[str, dict[str, str]]]:
    url = f"/api/v2.0/projects/{project}/repositories/{repository}/artifacts"
    last = max(1, -(-count // 10))
    return [
        (url, {"page": "1", "page_size": "10"}),
        (url, {"page": str(max(1, last // 2)), "page_size": "10"}),
        (url, {"page": str(last), "page_size": "10"}),
        (url, {"page": "1", "page_size": "100"}),
        (url, {"q": "tags=~v99", "page_size": "10"}),
        (url, {"sort": "size", "page": "3", "page_size": "10"}),
    ]


async def time_pages(
    base_url: str,
    auth: tuple[str, str],
    project: str,
    repository: str,
    count: int,
    *,
    duration: float = 5.0,
    minimum: int = 30,
) -> dict[str, Any]:
    """Fetch the pages in turn for ``duration`` seconds (at least ``minimum`` requests)."""
    pages = _pages(project, repository, count)
    times: list[float] = []
    totals: set[str] = set()
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) as client:
        await client.get(pages[0][0], params=pages[0][1])  # warm up
        started = time.perf_counter()
        n = 0
        while n < minimum or time.perf_counter() - started < duration:
            url, params = pages[n % len(pages)]
            t0 = time.perf_counter()
            response = await client.get(url, params=params)
            times.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise RuntimeError(f"{url} {params} answered {response.status_code}")
            if "q" not in params:
                totals.add(response.headers["X-Total-Count"])
            n += 1
        elapsed = time.perf_counter() - started
    ordered = sorted(times)
    return {
        "artifacts": count,
        "requests": len(times),
        "p50_ms": statistics.median(ordered) * 1000,
        "p95_ms": ordered[int(len(ordered) * 0.95) - 1] * 1000,
        "max_ms": ordered[-1] * 1000,
        "rps": len(times) / elapsed,
        "x_total_count": sorted(totals),
    }


async def bench_artifact_listing(
    base_url: str,
    database_url: str,
    *,
    auth: tuple[str, str] = ("admin", "Harbor12345"),
    count: int = 10_000,
    duration: float = 5.0,
    project: str | None = None,
) -> dict[str, Any]:
    """Create a project through the API, seed ``count`` artifacts, time the pages."""
    project = project or f"bench-listing-{int(time.time())}"
    async with httpx.AsyncClient(base_url=base_url, auth=auth, timeout=60) as client:
        created = await client.post("/api/v2.0/projects", json={"project_name": project})
        if created.status_code not in (201, 409):
            raise RuntimeError(f"creating {project} answered {created.status_code}")
    started = time.perf_counter()
    await seed(database_url, project, "many", count)
    seeded = time.perf_counter() - started
    result = await time_pages(base_url, auth, project, "many", count, duration=duration)
    result["seed_seconds"] = round(seeded, 1)
    return result


def database_url_of(server: Any) -> str:
    """The SQLAlchemy URL of a ``tests.harness.Harborlite``'s database."""
    if server.database_url == "sqlite":
        return f"sqlite+aiosqlite:///{server.data_dir / 'harborlite.db'}"
    return str(server.database_url)


def measure(world: Any, count: int, duration: float) -> dict[str, Any]:
    """The hook ``bench/run.py`` calls."""
    return asyncio.run(
        bench_artifact_listing(
            world.server.url,
            database_url_of(world.server),
            auth=world.server.admin,
            count=count,
            duration=duration,
        )
    )


def main() -> int:
    from tests.harness import cleanup, start_harborlite

    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--duration", type=float, default=5.0)
    parser.add_argument("--postgres", action="store_true", help="also on a real PostgreSQL")
    args = parser.parse_args()
    results: dict[str, Any] = {}
    kinds = ["sqlite", "postgresql"] if args.postgres else ["sqlite"]
    for kind in kinds:
        pg = None
        database_url = None
        if kind == "postgresql":
            from tests.support.processes import PostgresServer

            pg = PostgresServer()
            pg.__enter__()
            database_url = pg.create_database("bench_listing")
        server = start_harborlite(database_url)
        try:
            results[kind] = asyncio.run(
                bench_artifact_listing(
                    server.url,
                    database_url_of(server),
                    auth=server.admin,
                    count=args.count,
                    duration=args.duration,
                )
            )
        finally:
            cleanup(server)
            if pg is not None:
                pg.stop()
        print(kind, json.dumps(results[kind]), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
