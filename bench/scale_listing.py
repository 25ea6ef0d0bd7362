"""Listing at scale: a repository with T tags and a project with A artifacts.

Seeding (timed, printed): the world's small image is pushed through harborlite to
``bench/scale-tags:latest`` (a real manifest and blobs in the registry and the index); then
T - 1 more tags ``v0..`` of that same artifact go straight into the index (bulk inserts) and
into the registry's storage (``repositories/bench/scale-tags/_manifests/tags/<tag>/current/link``
and ``.../index/sha256/<hex>/link``, each naming the real manifest), so both sides hold the same
T tags. ``bench/scale-artifacts`` gets A top-level artifacts (``api_listing.seed``: bulk
inserts, one in ten an index with two children; then their ``top_level`` flag, as migration
0131 computes it).

Measured: the API's artifact pages of both repositories and the tag list pages of the artifact
with T tags (p50, target < 50 ms), the portal's page of both repositories (server time, p50,
target < 100 ms; ``portal_pages``), and paging ``/v2/bench/scale-tags/tags/list?n=1000&last=``
through every tag on harborlite and on the registry (tags/s, the median of five walks a side,
interleaved; at least as fast).
"""

from __future__ import annotations

import asyncio
import http.client
import json
import statistics
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlsplit

import api_listing
import httpx
import portal_pages
from cases import PeakWatch
from environment import PROJECT, World
from sqlalchemy import insert, select

from harborlite.artifacts import top_level
from harborlite.artifacts.tag_names import TTL
from harborlite.db.engine import make_engine, make_sessionmaker
from harborlite.db.models import Artifact, Repository, Tag
from tests.support.clients import skopeo_copy

TAGS_REPO = "scale-tags"
ARTIFACTS_REPO = "scale-artifacts"
TAG_BATCH = 5000
WALKS = 5  # walks of the tag list a side (one in a smoke run)


def _database_url(world: World) -> str:
    return api_listing.database_url_of(world.server)


async def _seed_tags(database_url: str, repository: str, names: list[str]) -> None:
    """Tags ``names`` of the artifact ``repository:latest`` points at, in bulk."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            repo_id, artifact_id = (
                await session.execute(
                    select(Repository.id, Tag.artifact_id)
                    .join(Tag, Tag.repository_id == Repository.id)
                    .where(Repository.name == repository, Tag.name == "latest")
                )
            ).one()
            for first in range(0, len(names), TAG_BATCH):
                await session.execute(
                    insert(Tag),
                    [
                        {"repository_id": repo_id, "artifact_id": artifact_id, "name": name}
                        for name in names[first : first + TAG_BATCH]
                    ],
                )
            await session.commit()
            digest = (
                await session.execute(select(Artifact.digest).where(Artifact.id == artifact_id))
            ).scalar_one()
            assert digest is not None
    finally:
        await engine.dispose()


async def _refresh_top_level(database_url: str, repository: str) -> None:
    """The rows went in in bulk, past the index's own writes: set their ``top_level`` flag
    (an index's children hidden) as migration 0131 does."""
    engine = make_engine(database_url)
    try:
        async with make_sessionmaker(engine)() as session:
            repo_id = (
                await session.execute(select(Repository.id).where(Repository.name == repository))
            ).scalar_one()
            await top_level.refresh_repository(session, repo_id)
            await session.commit()
    finally:
        await engine.dispose()


def write_registry_tags(data_dir: Path, repository: str, digest: str, names: list[str]) -> None:
    """Tag link files in the registry's filesystem layout, each naming ``digest``."""
    tags = data_dir / "registry/docker/registry/v2/repositories" / repository / "_manifests/tags"
    hexdigest = digest.split(":", 1)[1]
    link = digest.encode()
    for name in names:
        current = tags / name / "current"
        index = tags / name / "index/sha256" / hexdigest
        current.mkdir(parents=True)
        index.mkdir(parents=True)
        (current / "link").write_bytes(link)
        (index / "link").write_bytes(link)


def seed(world: World, tags: int, artifacts: int) -> dict[str, float]:
    repository = f"{PROJECT}/{TAGS_REPO}"
    started = time.perf_counter()
    skopeo_copy(
        f"oci:{world.workdir / 'small-layout'}:latest",
        f"docker://{world.harborlite.host}/{repository}:latest",
        creds=world.admin,
    )
    names = [f"v{n}" for n in range(tags - 1)]
    asyncio.run(_seed_tags(_database_url(world), repository, names))
    indexed = time.perf_counter()
    write_registry_tags(world.server.data_dir, repository, world.small.manifest_digest, names)
    stored = time.perf_counter()
    asyncio.run(
        api_listing.seed(_database_url(world), PROJECT, ARTIFACTS_REPO, artifacts, batch=5000)
    )
    asyncio.run(_refresh_top_level(_database_url(world), f"{PROJECT}/{ARTIFACTS_REPO}"))
    done = time.perf_counter()
    return {
        "tags_index_s": indexed - started,
        "tags_storage_s": stored - indexed,
        "artifacts_s": done - stored,
        "total_s": done - started,
    }


def time_tag_list(world: World, tags: int, duration: float) -> dict[str, float]:
    """Pages of ``.../artifacts/latest/tags`` (first, middle, last; 10 and 100 a page)."""
    url = f"/api/v2.0/projects/{PROJECT}/repositories/{TAGS_REPO}/artifacts/latest/tags"
    pages = [
        {"page": str(page), "page_size": str(size)}
        for size in (10, 100)
        for last in [max(1, -(-tags // size))]
        for page in (1, max(1, last // 2), last)
    ]
    times: list[float] = []
    with httpx.Client(base_url=world.server.url, auth=world.admin, timeout=120) as client:
        client.get(url, params=pages[0])
        started = time.perf_counter()
        n = 0
        while n < 2 * len(pages) or time.perf_counter() - started < duration:
            t0 = time.perf_counter()
            response = client.get(url, params=pages[n % len(pages)])
            times.append(time.perf_counter() - t0)
            if response.status_code != 200:
                raise RuntimeError(f"tag list {pages[n % len(pages)]}: {response.status_code}")
            n += 1
    total = response.headers.get("x-total-count")
    return {"p50_ms": statistics.median(times) * 1000, "requests": n, "total": float(total or -1)}


def page_v2_tags(
    base_url: str, repository: str, authorization: str, n: int | None = 1000
) -> tuple[int, float]:
    """Page ``/v2/<repository>/tags/list?n=<n>&last=`` to the end on one keep-alive
    connection (``n=None``: the one request without ``n``, which both sides answer whole);
    returns (tags seen, seconds)."""
    parts = urlsplit(base_url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=300)
    seen: list[str] = []
    last = ""
    started = time.perf_counter()
    try:
        while True:
            query = "" if n is None else f"?n={n}" + (f"&last={quote(last)}" if last else "")
            conn.request(
                "GET",
                f"/v2/{repository}/tags/list{query}",
                headers={"Authorization": authorization},
            )
            response = conn.getresponse()
            body = response.read()
            if response.status != 200:
                raise RuntimeError(f"tags/list {query}: {response.status} {body[:200]!r}")
            page = json.loads(body).get("tags") or []
            seen += page
            if n is None or not page or not response.getheader("link"):
                break
            last = page[-1]
    finally:
        conn.close()
    return len(seen), time.perf_counter() - started


def walk_both(
    world: World, repository: str, bearer: str, tags: int, walks: int, n: int | None
) -> dict[str, list[float]]:
    """``walks`` whole walks of the tag list a side, in tags/s, the sides interleaved
    (registry, harborlite, harborlite, registry, ...). One walk is a tenth of a second here: a
    single one is mostly noise."""
    rates: dict[str, list[float]] = {"registry": [], "harborlite": []}
    order = ("registry", "harborlite", "harborlite", "registry")
    for number in range(2 * walks):
        side = order[number % 4]
        count, seconds = page_v2_tags(getattr(world, side).url, repository, bearer, n)
        if count != tags:
            raise RuntimeError(f"/v2/ tags/list (n={n}) on {side} listed {count} of {tags} tags")
        rates[side].append(count / seconds)
    return rates


def _walks(rates: dict[str, list[float]]) -> str:
    return ", ".join(
        f"{side} {statistics.median(r):,.0f} tags/s (walks: "
        + " ".join(f"{rate:,.0f}" for rate in r)
        + ")"
        for side, r in rates.items()
    )


def measure(world: World, tags: int, artifacts: int, *, smoke: bool) -> dict[str, Any]:
    seeded = seed(world, tags, artifacts)
    print(
        f"seeded {tags:,} tags ({seeded['tags_index_s']:.1f}s index, "
        f"{seeded['tags_storage_s']:.1f}s registry storage) and {artifacts:,} artifacts "
        f"({seeded['artifacts_s']:.1f}s)",
        flush=True,
    )
    values: dict[str, dict[str, float]] = {"scale_seed_s": {"harborlite": seeded["total_s"]}}
    notes = [
        f"scale listing: {tags:,} tags in {PROJECT}/{TAGS_REPO} (one artifact), {artifacts:,} "
        f"top-level artifacts (+ children of one in ten) in {PROJECT}/{ARTIFACTS_REPO}; seeding "
        f"took {seeded['tags_index_s']:.1f}s (tags, index), {seeded['tags_storage_s']:.1f}s "
        f"(tag links in the registry's storage), {seeded['artifacts_s']:.1f}s (artifacts)"
    ]
    duration = 1.0 if smoke else 5.0
    watch = PeakWatch(world, True)
    auth = world.admin
    for repo, count, key in (
        (TAGS_REPO, 1, "scale_api_tags_artifacts_p50"),
        (ARTIFACTS_REPO, artifacts, "scale_api_artifacts_p50"),
    ):
        answer = asyncio.run(
            api_listing.time_pages(
                world.server.url, auth, PROJECT, repo, count, duration=duration, minimum=12
            )
        )
        values[key] = {"harborlite": answer["p50_ms"]}
        notes.append(
            f"API artifact pages of {PROJECT}/{repo}: p50 {answer['p50_ms']:.1f} ms, p95 "
            f"{answer['p95_ms']:.1f} ms, max {answer['max_ms']:.1f} ms, X-Total-Count "
            f"{answer['x_total_count']}"
        )
    tag_list = time_tag_list(world, tags, duration)
    values["scale_api_tag_list_p50"] = {"harborlite": tag_list["p50_ms"]}

    client = portal_pages.login(world.server.url, *auth)
    try:
        for repo, key in (
            (TAGS_REPO, "scale_portal_tags_repository_p50"),
            (ARTIFACTS_REPO, "scale_portal_artifacts_repository_p50"),
        ):
            timing = portal_pages.time_page(
                client, f"/repositories/{PROJECT}/{repo}", 3 if smoke else 20
            )
            values[key] = {"harborlite": timing["p50"]}
            notes.append(
                f"portal page of {PROJECT}/{repo} (server time): p50 {timing['p50']:.1f} ms, "
                f"p95 {timing['p95']:.1f} ms"
            )
    finally:
        client.close()

    repository = f"{PROJECT}/{TAGS_REPO}"
    bearer = "Bearer " + world.server.token(f"repository:{repository}:pull", auth)
    walks = 1 if smoke else WALKS
    paging = walk_both(world, repository, bearer, tags, walks, n=1000)
    # distribution 2.8 ignores n: it answers every tag to the first request, so the paged row
    # compares harborlite's pages with the registry's one answer; the n-less request, which
    # both sides answer whole, is the like-for-like comparison
    whole = walk_both(world, repository, bearer, tags, walks, n=None)
    values["scale_v2_tags_paging"] = {side: statistics.median(r) for side, r in paging.items()}
    values["scale_v2_tags_whole"] = {side: statistics.median(r) for side, r in whole.items()}
    notes.append(
        f"/v2/{repository}/tags/list?n=1000 through {tags:,} tags, median of {walks} walks a "
        "side, interleaved (the registry ignores n and answers all at once; harborlite keeps to "
        f"n: {-(-tags // 1000)} requests): "
        + _walks(paging)
        + "; without n, both whole: "
        + _walks(whole)
        + f". harborlite reads a repository's names again once its copy is {TTL:g} s old, so "
        "a walk that starts past that pays the read (its first walk here, at least)"
    )
    watch.done()
    values["rss_growth_scale_listing"] = {"harborlite": watch.growth}
    return {"values": values, "notes": notes}
