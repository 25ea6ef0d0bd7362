"""The tag names held for ``/v2/<name>/tags/list``: in the registry's order, a change committed
in this process shows in the very next list (ORM rows, Core statements, cascades), a pull or a
change in another repository keeps the copy, another process's change shows within the TTL, and
memory stays within the bound."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import delete, event, insert, select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.repositories import delete_repository
from harborlite.artifacts.tag_names import TagNameCache, changed
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import Artifact, Project, Repository, Tag, utcnow


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _repository(
    sessions: async_sessionmaker[AsyncSession], name: str, tags: list[str]
) -> tuple[int, int]:
    """``p/name`` with one artifact tagged ``tags``: (repository id, artifact id)."""
    async with sessions() as session:
        project = (
            await session.execute(select(Project).where(Project.name == "p"))
        ).scalar_one_or_none()
        if project is None:
            project = Project(name="p", project_metadata={})
            session.add(project)
            await session.flush()
        repository = Repository(project_id=project.id, name=f"p/{name}", description="")
        session.add(repository)
        await session.flush()
        artifact = Artifact(
            repository_id=repository.id,
            digest=f"sha256:{name:0>64}"[:71],
            media_type="application/vnd.oci.image.config.v1+json",
            manifest_media_type="application/vnd.oci.image.manifest.v1+json",
        )
        session.add(artifact)
        await session.flush()
        for tag in tags:
            tag_rows.add_tag(session, repository, artifact, tag)
        await session.commit()
        return repository.id, artifact.id


async def _names(cache: TagNameCache, name: str) -> list[str] | None:
    held = await cache.get(name)
    return None if held is None else held.after(None, None)[0]


class Loads:
    """Counts the loads of tag names (statements reading ``tags.name`` without a limit)."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self.count = 0
        event.listen(sessions.kw["bind"].sync_engine, "before_cursor_execute", self._heard)

    def _heard(self, _c: object, _cur: object, statement: str, *_a: object) -> None:
        if statement.startswith("SELECT tags.name"):
            self.count += 1


async def test_pages_in_byte_order_with_next(sessions: async_sessionmaker[AsyncSession]) -> None:
    names = ["B", "a", "a.1", "b", "Z-", "_x", "v0"]
    await _repository(sessions, "r", names)
    held = await TagNameCache(sessions).get("p/r")
    assert held is not None
    expected = sorted(names, key=lambda n: n.encode())
    assert held.after(None, None) == (expected, False)
    assert held.after(None, 3) == (expected[:3], True)
    assert held.after(expected[2], 3) == (expected[3:6], True)
    assert held.after(expected[5], 3) == (expected[6:], False)
    assert held.after("zzz", 3) == ([], False)
    assert held.after("a.0", None)[0] == expected[expected.index("a.1") :]  # between names
    assert held.after(None, 0) == ([], True)
    assert held.whole_json() == ("[" + ", ".join(f'"{n}"' for n in expected) + "]").encode()


async def test_unknown_repository_is_none_and_not_held(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    cache = TagNameCache(sessions)
    assert await cache.get("p/none") is None
    await _repository(sessions, "none", ["a"])
    assert await _names(cache, "p/none") == ["a"]


async def test_a_list_is_read_once_until_a_change(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _repository(sessions, "r", ["a", "b"])
    cache, loads = TagNameCache(sessions), Loads(sessions)
    await asyncio.gather(*(cache.get("p/r") for _ in range(10)))  # a burst: one load
    assert loads.count == 1
    for _ in range(5):
        assert await _names(cache, "p/r") == ["a", "b"]
    assert loads.count == 1


async def test_orm_tag_writes_show_in_the_next_list(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository_id, artifact_id = await _repository(sessions, "r", ["a", "b"])
    cache = TagNameCache(sessions)
    assert await _names(cache, "p/r") == ["a", "b"]
    async with sessions() as session:  # a push's tag
        repository = await session.get(Repository, repository_id)
        artifact = await session.get(Artifact, artifact_id)
        assert repository is not None and artifact is not None
        tag_rows.add_tag(session, repository, artifact, "c")
        await session.commit()
    assert await _names(cache, "p/r") == ["a", "b", "c"]
    async with sessions() as session:  # a tag DELETE
        repository = await session.get(Repository, repository_id)
        assert repository is not None
        assert await tag_rows.delete_tag(session, repository, "a")
        await session.commit()
    assert await _names(cache, "p/r") == ["b", "c"]
    async with sessions() as session:  # a rename of a tag row
        tag = await tag_rows.get_tag(session, repository_id, "b")
        assert tag is not None
        tag.name = "d"
        await session.commit()
    assert await _names(cache, "p/r") == ["c", "d"]


async def test_uncommitted_writes_do_not_show(sessions: async_sessionmaker[AsyncSession]) -> None:
    repository_id, artifact_id = await _repository(sessions, "r", ["a"])
    cache = TagNameCache(sessions)
    async with sessions() as session:
        session.add(Tag(repository_id=repository_id, artifact_id=artifact_id, name="b"))
        await session.flush()
        assert await _names(cache, "p/r") == ["a"]
        await session.rollback()
    assert await _names(cache, "p/r") == ["a"]


async def test_a_pull_or_another_repository_keeps_the_list(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _repository(sessions, "r", ["a", "b"])
    other_id, other_artifact = await _repository(sessions, "other", ["x"])
    cache, loads = TagNameCache(sessions), Loads(sessions)
    assert await _names(cache, "p/r") == ["a", "b"]
    async with sessions() as session:  # a pull of p/r:a (tag and artifact pull times)
        assert await artifacts.record_pulls(session, "p/r", "a", 1, utcnow())
        await session.commit()
    async with sessions() as session:  # a push into another repository
        other = await session.get(Repository, other_id)
        artifact = await session.get(Artifact, other_artifact)
        assert other is not None and artifact is not None
        tag_rows.add_tag(session, other, artifact, "y")
        await session.commit()
    assert await _names(cache, "p/r") == ["a", "b"]
    assert loads.count == 1
    assert await _names(cache, "p/other") == ["x", "y"]


async def test_core_statements_and_cascades_show_in_the_next_list(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository_id, artifact_id = await _repository(sessions, "r", ["a", "b", "c"])
    cache = TagNameCache(sessions)
    assert await _names(cache, "p/r") == ["a", "b", "c"]
    async with sessions() as session:
        await session.execute(delete(Tag).where(Tag.name == "a"))
        await session.commit()
    assert await _names(cache, "p/r") == ["b", "c"]
    async with sessions() as session:
        await session.execute(update(Tag).where(Tag.name == "b").values(name="e"))
        await session.commit()
    assert await _names(cache, "p/r") == ["c", "e"]
    async with sessions() as session:  # an artifact delete (its tags by the index's code)
        repository = await session.get(Repository, repository_id)
        assert repository is not None
        await artifacts.forget_artifacts(session, repository, [artifact_id])
        await session.commit()
    assert await _names(cache, "p/r") == []


async def test_orm_deletes_of_artifacts_and_repositories_show(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository_id, artifact_id = await _repository(sessions, "r", ["a"])
    cache = TagNameCache(sessions)
    assert await _names(cache, "p/r") == ["a"]
    async with sessions() as session:  # the foreign key's cascade takes the tag
        artifact = await session.get(Artifact, artifact_id)
        await session.delete(artifact)
        await session.commit()
    assert await _names(cache, "p/r") == []
    async with sessions() as session:
        repository = await session.get(Repository, repository_id)
        assert repository is not None
        await delete_repository(session, repository)
        await session.commit()
    assert await cache.get("p/r") is None
    await _repository(sessions, "r", ["again"])  # the same name, a new repository
    assert await _names(cache, "p/r") == ["again"]
    async with sessions() as session:
        project = (await session.execute(select(Project))).scalar_one()
        await session.delete(project)
        await session.commit()
    assert await cache.get("p/r") is None


async def test_another_process_change_shows_within_the_ttl(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    repository_id, artifact_id = await _repository(sessions, "r", ["a"])
    cache = TagNameCache(sessions, ttl=0.3)
    assert await _names(cache, "p/r") == ["a"]
    # another replica's write: a raw connection of its own engine, which no session of this
    # process's listeners hears
    other = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    try:
        async with other.begin() as connection:
            await connection.execute(
                insert(Tag).values(repository_id=repository_id, artifact_id=artifact_id, name="b")
            )
    finally:
        await other.dispose()
    assert await _names(cache, "p/r") == ["a"]  # a raw connection's write: not noticed
    await asyncio.sleep(0.35)
    assert await _names(cache, "p/r") == ["a", "b"]
    async with other.begin() as connection:
        await connection.execute(delete(Tag).where(Tag.name == "a"))
    await other.dispose()
    changed([repository_id])  # what code writing through a raw connection calls
    assert await _names(cache, "p/r") == ["b"]


async def test_memory_is_bounded_least_recently_listed_first(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    for name in ("one", "two", "three"):
        await _repository(sessions, name, [f"{name}-{n}" for n in range(40)])
    await _repository(sessions, "big", [f"t{n}" for n in range(150)])
    cache, loads = TagNameCache(sessions, max_names=100), Loads(sessions)
    await cache.get("p/one")
    await cache.get("p/two")
    await cache.get("p/one")  # listed again: two is now the least recent
    await cache.get("p/three")
    assert cache.held_names == 80
    assert loads.count == 3
    await cache.get("p/one")
    assert loads.count == 3
    await cache.get("p/two")
    assert loads.count == 4
    assert cache.held_names <= 100
    held = await cache.get("p/big")  # beyond the bound: answered, not held
    assert held is not None and len(held.names) == 150
    assert cache.held_names <= 100


async def test_a_change_committed_during_a_load_reads_again(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    repository_id, _ = await _repository(sessions, "r", ["a"])
    cache, loads = TagNameCache(sessions), Loads(sessions)
    engine = sessions.kw["bind"].sync_engine

    def commit_elsewhere(_c: object, _cur: object, statement: str, *_a: object) -> None:
        if statement.startswith("SELECT tags.name") and loads.count == 1:
            changed([repository_id])  # as a commit landing between the read and its keeping

    event.listen(engine, "before_cursor_execute", commit_elsewhere)
    assert await _names(cache, "p/r") == ["a"]
    assert await _names(cache, "p/r") == ["a"]
    assert loads.count == 2  # the first copy was not trusted
    assert await _names(cache, "p/r") == ["a"]
    assert loads.count == 2


async def test_a_reload_overlapping_another_repository_commit_is_trusted(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """Pushes into other repositories commit all the time: a copy read again (its TTL over)
    while one of them commits is kept; one of its own repository's commits is not."""
    repository_id, _ = await _repository(sessions, "r", ["a"])
    other_id, _ = await _repository(sessions, "other", ["x"])
    cache, loads = TagNameCache(sessions, ttl=0.2), Loads(sessions)
    engine = sessions.kw["bind"].sync_engine
    landing: list[int] = []

    def commit_elsewhere(_c: object, _cur: object, statement: str, *_a: object) -> None:
        if statement.startswith("SELECT tags.name") and landing:
            changed([landing.pop()])  # as a commit landing while the names are read

    event.listen(engine, "before_cursor_execute", commit_elsewhere)
    assert await _names(cache, "p/r") == ["a"]
    await asyncio.sleep(0.25)
    landing.append(other_id)
    assert await _names(cache, "p/r") == ["a"]  # read again: the TTL is over
    assert await _names(cache, "p/r") == ["a"]
    assert loads.count == 2  # the second copy was trusted
    await asyncio.sleep(0.25)
    landing.append(repository_id)
    assert await _names(cache, "p/r") == ["a"]
    assert await _names(cache, "p/r") == ["a"]
    assert loads.count == 4  # its own repository's commit: not trusted, read once more
