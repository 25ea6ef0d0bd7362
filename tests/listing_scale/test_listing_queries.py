"""Listings at scale: a page costs the same statements whatever the repository's size or the tags
per artifact, its count is right, its queries read the listing indexes (SQLite and PostgreSQL),
and the tag list pages in the registry's order."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, insert, select, text
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.tag_names import TagNameCache
from harborlite.artifacts.top_level import refresh_repository
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import Artifact, ArtifactReference, Project, Repository, Tag, utcnow
from tests.support.processes import PostgresServer

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"


def _digest(*parts: object) -> str:
    return "sha256:" + hashlib.sha256("/".join(map(str, parts)).encode()).hexdigest()


async def _engine(url: str) -> AsyncEngine:
    engine = make_engine(url)
    await migrate(engine)
    async with make_sessionmaker(engine)() as session:
        session.add(Project(name="p", project_metadata={}))
        await session.commit()
    return engine


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = await _engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _seed(session: AsyncSession, name: str, count: int, tags: int = 1) -> int:
    """``count`` top-level artifacts in ``p/name``, each with ``tags`` tags; one in ten an index
    with two children; the newest artifact also has a linked accessory (hidden too)."""
    project_id = (await session.execute(select(Project.id))).scalar_one()
    repository = Repository(project_id=project_id, name=f"p/{name}", description="")
    session.add(repository)
    await session.flush()
    start = utcnow() - timedelta(days=1)
    rows: list[dict[str, Any]] = []
    children: list[dict[str, Any]] = []
    for n in range(count):
        when = start + timedelta(seconds=n)
        base = {"repository_id": repository.id, "type": "IMAGE", "push_time": when}
        references = []
        if n % 10 == 0:
            for arch in ("amd64", "arm64"):
                child = _digest(name, n, arch)
                references.append({"child_digest": child})
                children.append(
                    {**base, "digest": child, "media_type": "c", "manifest_media_type": MANIFEST}
                )
        kind = INDEX if references else MANIFEST
        rows.append(
            {**base, "digest": _digest(name, n), "media_type": "c", "manifest_media_type": kind}
            | {"references": references}
        )
    newest = rows[-1]["digest"]
    accessory = {
        "repository_id": repository.id,
        "digest": _digest(name, "sig"),
        "media_type": "s",
        "manifest_media_type": MANIFEST,
        "subject_digest": newest,
        "accessory_type": "signature.cosign",
        "push_time": start,
    }
    await session.execute(insert(Artifact), rows + children + [accessory])
    ids = dict(
        (
            await session.execute(
                select(Artifact.digest, Artifact.id).where(Artifact.repository_id == repository.id)
            )
        ).all()
    )
    await session.execute(
        insert(Tag),
        [
            {
                "repository_id": repository.id,
                "artifact_id": ids[r["digest"]],
                "name": f"v{n}" if t == 0 else f"v{n}-{t}",
                "push_time": r["push_time"] + timedelta(milliseconds=t),
            }
            for n, r in enumerate(rows)
            for t in range(tags)
        ],
    )
    links = [
        {"parent_id": ids[r["digest"]], "child_id": ids[x["child_digest"]]} | x
        for r in rows
        for x in r["references"]
    ]
    if links:
        await session.execute(insert(ArtifactReference), links)
    await refresh_repository(session, repository.id)  # rows written in bulk: set the flag
    await session.commit()
    return repository.id


class Statements:
    def __init__(self, engine: AsyncEngine) -> None:
        self.seen: list[tuple[str, Any]] = []
        sa_event.listen(engine.sync_engine, "before_cursor_execute", self._heard)

    def _heard(self, conn: object, cursor: object, statement: str, params: Any, *a: Any) -> None:
        self.seen.append((statement, params))


async def _page(session: AsyncSession, repository_id: int, offset: int) -> tuple[int, int]:
    """The artifacts API's page of 10 with tags inline: (rows, tags shown)."""
    rows, _ = await artifacts.list_artifacts(session, repository_id, offset=offset, limit=10)
    tags = await tag_rows.tags_for(session, [a.id for a in rows], limit=tag_rows.INLINE_TAGS)
    return len(rows), sum(len(v) for v in tags.values())


async def test_a_page_costs_the_same_statements_whatever_the_size_and_the_tags(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        small = await _seed(session, "small", 12)
        large = await _seed(session, "large", 1500)
        crowded = await _seed(session, "crowded", 12, tags=300)
    statements = Statements(sessions.kw["bind"])
    counts = []
    async with sessions() as session:
        for repository_id, offset in ((small, 0), (large, 0), (large, 700), (crowded, 0)):
            statements.seen.clear()
            shown, tags = await _page(session, repository_id, offset)
            assert shown == 10
            assert tags == (1000 if repository_id == crowded else 10)  # 10 x INLINE_TAGS
            counts.append(len(statements.seen))
    assert counts == [counts[0]] * 4 and counts[0] == 3, counts  # count, page, tags


async def test_the_count_is_the_rows_a_list_shows(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository_id = await _seed(session, "r", 45)
        rows, total = await artifacts.list_artifacts(session, repository_id, limit=1000)
        # 45 top level; 5 indexes' 10 children and the accessory are hidden
        assert total == len(rows) == 45
        assert not any(a.accessory_type for a in rows)
        everything = (
            await session.execute(
                select(func.count()).where(Artifact.repository_id == repository_id)
            )
        ).scalar_one()
        assert everything == 56
        _, with_children = await artifacts.list_artifacts(
            session, repository_id, include_children=True, limit=1
        )
        assert with_children == 56
        # a condition counts the slow way, and the same rows
        tagged = tag_rows.tag_condition("exact", "*", repository_id)
        rows, total = await artifacts.list_artifacts(
            session, repository_id, conditions=[tagged], limit=1000
        )
        assert total == len(rows) == 45


async def test_a_fuzzy_tag_matches_this_repositorys_names_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _fuzzy_tags(sessions)


async def test_a_fuzzy_tag_on_postgresql(postgres: PostgresServer) -> None:
    engine = await _engine(postgres.create_database())
    try:
        await _fuzzy_tags(make_sessionmaker(engine))
    finally:
        await engine.dispose()


async def _fuzzy_tags(sessions: async_sessionmaker[AsyncSession]) -> None:
    async with sessions() as session:
        here = await _seed(session, "fuzzy-here", 120, tags=2)
        await _seed(session, "fuzzy-there", 120, tags=2)  # the same tag names elsewhere

        async def listed(value: str, limit: int = 1000) -> tuple[list[int], int]:
            condition = tag_rows.tag_condition("fuzzy", value, here)
            rows, total = await artifacts.list_artifacts(
                session, here, conditions=[condition], limit=limit
            )
            return [a.id for a in rows], total

        # v1, v10..v19, v100..v119: 1 + 10 + 20 artifacts, each once though both its tags match
        ids, total = await listed("v1")
        assert total == len(ids) == 31
        names = (
            await session.execute(
                select(Tag.name).where(Tag.artifact_id.in_(ids), ~Tag.name.contains("-"))
            )
        ).scalars()
        assert sorted(names) == sorted(
            ["v1", *(f"v{n}" for n in range(10, 20)), *(f"v{n}" for n in range(100, 120))]
        )
        page, total = await listed("v1", limit=5)
        assert total == 31 and page == ids[:5]  # newest first, the same order
        assert (await listed("-1"))[1] == 120  # every artifact's second tag
        assert (await listed("%"))[1] == 0  # LIKE's wildcards are plain characters
        assert (await listed("_1"))[1] == 0
        assert (await listed("nothing"))[1] == 0


async def test_pages_keep_their_order_to_the_end(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository_id = await _seed(session, "r", 33)
        seen: list[int] = []
        for offset in range(0, 40, 10):
            rows, total = await artifacts.list_artifacts(
                session, repository_id, offset=offset, limit=10
            )
            assert total == 33
            seen += [a.id for a in rows]
        everything, _ = await artifacts.list_artifacts(session, repository_id, limit=100)
    assert seen == [a.id for a in everything] and len(seen) == 33
    times = [a.push_time for a in everything]
    assert times == sorted(times, reverse=True)


async def test_inline_tags_are_the_newest_and_the_tag_list_pages_through_all(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository_id = await _seed(session, "r", 1, tags=250)
        (artifact,), _ = await artifacts.list_artifacts(session, repository_id)
        shown = (await tag_rows.tags_for(session, [artifact.id], limit=tag_rows.INLINE_TAGS))[
            artifact.id
        ]
        everything = (await tag_rows.tags_for(session, [artifact.id]))[artifact.id]
        assert len(everything) == 250
        assert [t.id for t in shown] == [t.id for t in everything[: tag_rows.INLINE_TAGS]]
        assert shown[0].name == "v0-249"
        paged: list[str] = []
        for offset in range(0, 300, 100):
            page, total = await tag_rows.list_tags(session, artifact.id, offset=offset, limit=100)
            assert total == 250
            paged += [t.name for t in page]
    assert paged == [t.name for t in everything]


async def test_tags_list_reads_two_statements_whatever_the_size_in_byte_order(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await _seed(session, "r", 1)
        artifact_id = (
            await session.execute(select(Tag.artifact_id).where(Tag.name == "v0"))
        ).scalar_one()
        names = ["B", "a", "a.1", "b", "Z-", "_x"]
        session.add_all(Tag(repository_id=1, artifact_id=artifact_id, name=name) for name in names)
        await session.commit()
    statements = Statements(sessions.kw["bind"])
    expected = sorted([*names, "v0"], key=lambda n: n.encode())
    cache = TagNameCache(sessions)
    held = await cache.get("p/r")  # the repository's id, then its names
    assert held is not None and len(statements.seen) == 2
    first, more = held.after(None, 3)
    rest, _ = held.after(expected[2], None)
    assert more and first + rest == expected
    assert held.after("zzz", 3) == ([], False)
    assert await cache.get("p/none") is None


async def _plans(
    sessions: async_sessionmaker[AsyncSession], repository_id: int, explain: str
) -> list[str]:
    """The plans of the statements one page and one tag list page run."""
    statements = Statements(sessions.kw["bind"])
    async with sessions() as session:
        rows, _ = await artifacts.list_artifacts(session, repository_id, offset=0, limit=10)
        await tag_rows.tags_for(session, [a.id for a in rows], limit=tag_rows.INLINE_TAGS)
        await tag_rows.list_tags(session, rows[0].id, offset=0, limit=10)
    captured = list(statements.seen)
    plans = []
    engine = sessions.kw["bind"]
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        for statement, params in captured:
            if engine.dialect.name == "sqlite":
                cursor = await driver.execute(explain + statement, params)
                plans.append(" ".join(str(row[-1]) for row in await cursor.fetchall()))
            else:
                await driver.execute("SET enable_seqscan = off")
                rows = await driver.fetch(explain + statement, *params)
                plans.append(" ".join(str(r[0]) for r in rows))
    return plans


def _uses(plans: list[str], index: str) -> bool:
    return any(index in plan for plan in plans)


async def test_sqlite_reads_the_listing_indexes(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        repository_id = await _seed(session, "r", 30, tags=3)
    plans = await _plans(sessions, repository_id, "EXPLAIN QUERY PLAN ")
    assert _uses(plans, "ix_tags_artifact_push_time"), plans
    # the count and the page read the top-level flag's index: no row tested for being a
    # child, no reference read, the page in the index's order
    assert "COVERING INDEX ix_artifacts_repository_top_level_push_time_id" in plans[0], plans
    assert "ix_artifacts_repository_top_level_push_time_id" in plans[1], plans
    assert not any("artifact_references" in plan for plan in plans[:2]), plans
    # the page's ids from the index alone, in its order; then those rows by primary key (the
    # temporary B-tree sorts the page's own rows only)
    assert "USING INTEGER PRIMARY KEY" in plans[1], plans
    assert "LIST SUBQUERY" in plans[1], plans
    assert "COVERING INDEX ix_artifacts_repository_top_level_push_time_id" in plans[1], plans
    assert "USE TEMP B-TREE" not in plans[0], plans


async def test_postgresql_reads_the_listing_indexes(postgres: PostgresServer) -> None:
    engine = await _engine(postgres.create_database())
    try:
        sessions = make_sessionmaker(engine)
        async with sessions() as session:
            repository_id = await _seed(session, "r", 30, tags=3)
            await session.execute(text("ANALYZE"))
            await session.commit()
        plans = await _plans(sessions, repository_id, "EXPLAIN ")
    finally:
        await engine.dispose()
    assert _uses(plans, "ix_tags_artifact_push_time"), plans
    assert "ix_artifacts_repository_top_level_push_time_id" in plans[0], plans
    assert "ix_artifacts_repository_top_level_push_time_id" in plans[1], plans


async def test_an_index_scan_overview_finds_its_children_by_digest_from_an_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The portal's repository page asks each artifact's scan overview, which reads an index's
    children by digest in any repository: ``ix_artifacts_digest``, not a scan of every
    artifact (20,000 artifacts: the page 131 ms to 35 ms)."""
    from harborlite.scanning.queries import children_of

    async with sessions() as session:
        await _seed(session, "r", 30)
    engine = sessions.kw["bind"]
    statements = Statements(engine)
    async with sessions() as session:
        assert len(await children_of(session, _digest("r", 0))) == 2
    (statement, params), *_ = [s for s in statements.seen if "artifact_references" in s[0]]
    async with engine.connect() as connection:
        raw = await connection.get_raw_connection()
        driver: Any = raw.driver_connection
        cursor = await driver.execute("EXPLAIN QUERY PLAN " + statement, params)
        plan = " ".join(str(row[-1]) for row in await cursor.fetchall())
    assert "INDEX ix_artifacts_digest (digest=?)" in plan, plan
    assert "SCAN artifacts" not in plan, plan
