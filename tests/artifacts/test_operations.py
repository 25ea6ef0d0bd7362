"""The artifact operations in-process, on a real SQLite database and a real registry."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import operations
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.describe import describe_manifest
from harborlite.audit.events import Actor, Origin
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import Artifact, AuditLog, Project, Repository
from harborlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed, UpstreamError
from harborlite.oci.mediatypes import OCI_INDEX
from harborlite.projects import queries as projects
from harborlite.upstream import calls
from harborlite.upstream.client import Upstream
from tests.support.processes import free_port
from tests.upstream.test_calls import Registry, digest_of, push_image, started_registry

ALICE = Actor("alice", Origin("192.0.2.1", "tests"))


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with started_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
async def upstream(registry: Registry) -> AsyncIterator[Upstream]:
    client = Upstream.open(registry.server.url, registry.signer)
    try:
        yield client
    finally:
        await client.close()


@pytest.fixture
async def session(tmp_path: Path) -> AsyncIterator[AsyncSession]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await migrate(engine)
    try:
        async with make_sessionmaker(engine)() as session:
            yield session
    finally:
        await engine.dispose()


async def pushed(
    session: AsyncSession, upstream: Upstream, project: Project, name: str, tag: str, seed: str
) -> Artifact:
    """An image in the registry and in the index, as a push through /v2/ leaves it."""
    digest, manifest = await push_image(upstream, name, tag, seed=seed)
    return await indexed(session, upstream, project, name, manifest, digest, tag)


async def indexed(
    session: AsyncSession,
    upstream: Upstream,
    project: Project,
    name: str,
    body: bytes,
    digest: str,
    tag: str | None,
    media_type: str | None = None,
) -> Artifact:
    described = await describe_manifest(upstream, session, name, body, media_type, digest)
    return await artifacts.record_push(
        session,
        project_id=project.id,
        repository_name=name,
        manifest=described,
        tag=tag,
        pusher="alice",
    )


async def audit(session: AsyncSession) -> list[tuple[str, str, str]]:
    rows = await session.execute(select(AuditLog).order_by(AuditLog.id))
    return [(e.operation, e.resource_type, e.resource) for e in rows.scalars()]


async def test_a_tag_reaches_the_registry_then_the_index(
    session: AsyncSession, upstream: Upstream
) -> None:
    project = await projects.create_project(session, name="tags", public=False, owner=None)
    image = await pushed(session, upstream, project, "tags/app", "v1", "a")
    repository = await artifacts.get_repository(session, "tags/app")
    assert repository is not None
    await session.commit()

    with pytest.raises(BadRequest, match="invalid tag"):
        await operations.add_tag(session, upstream, repository, image, "-bad", by=ALICE)
    with pytest.raises(Conflict):
        await operations.add_tag(session, upstream, repository, image, "v1", by=ALICE)
    await operations.add_tag(session, upstream, repository, image, "stable", by=ALICE)
    await session.commit()
    body, _ = await calls.get_manifest(upstream, "tags/app", "stable")
    assert digest_of(body) == image.digest
    assert (await tag_rows.get_tag(session, repository.id, "stable")) is not None
    assert await audit(session) == [("create", "tag", "tags/app:stable")]

    with pytest.raises(NotFound):
        await operations.remove_tag(session, upstream, None, repository, "nosuch", by=ALICE)
    await operations.remove_tag(
        session, upstream, None, repository, "stable", of=image, by=ALICE
    )  # no storage: untagged over HTTP
    await session.commit()
    with pytest.raises(NotFound):
        await calls.get_manifest(upstream, "tags/app", "stable")
    assert (await calls.get_manifest(upstream, "tags/app", "v1"))[0]  # the manifest stays
    assert await tag_rows.get_tag(session, repository.id, "stable") is None
    assert (await audit(session))[-1] == ("delete", "tag", "tags/app:stable")


async def test_a_registry_that_fails_changes_nothing(
    session: AsyncSession, upstream: Upstream, registry: Registry
) -> None:
    project = await projects.create_project(session, name="down", public=False, owner=None)
    image = await pushed(session, upstream, project, "down/app", "v1", "b")
    repository = await artifacts.get_repository(session, "down/app")
    assert repository is not None
    await session.commit()
    gone = Upstream.open(f"http://127.0.0.1:{free_port()}", registry.signer)
    try:
        with pytest.raises(UpstreamError):
            await operations.remove_tag(session, gone, None, repository, "v1", by=ALICE)
        with pytest.raises(UpstreamError):
            await operations.add_tag(session, gone, repository, image, "v2", by=ALICE)
        with pytest.raises(UpstreamError):
            await operations.delete_artifact(session, gone, repository, image, by=ALICE)
    finally:
        await gone.close()
    assert not session.new and not session.dirty and not session.deleted  # nothing written
    repository_id = repository.id
    await session.rollback()
    assert await tag_rows.get_tag(session, repository_id, "v1") is not None
    assert await tag_rows.get_tag(session, repository_id, "v2") is None
    assert await audit(session) == []


async def test_an_index_is_deleted_with_its_children_but_a_child_alone_is_refused(
    session: AsyncSession, upstream: Upstream, registry: Registry
) -> None:
    project = await projects.create_project(session, name="multi", public=False, owner=None)
    name = "multi/app"
    children = []
    for arch in ("amd64", "arm64"):
        digest, manifest = await push_image(upstream, name, arch, seed=arch)
        children.append(await indexed(session, upstream, project, name, manifest, digest, None))
    body = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {"mediaType": c.manifest_media_type, "digest": c.digest, "size": 1}
                for c in children
            ],
        }
    ).encode()
    await calls.put_manifest(upstream, name, "m1", body, OCI_INDEX)
    index = await indexed(session, upstream, project, name, body, digest_of(body), "m1", OCI_INDEX)
    repository = await artifacts.get_repository(session, name)
    assert repository is not None
    listed, total = await artifacts.list_artifacts(session, repository.id)
    assert total == 1 and [a.id for a in listed] == [index.id]
    assert [c.id for c in (await artifacts.children_for(session, [index]))[index.id]] == [
        c.id for c in children
    ]
    await session.commit()

    with pytest.raises(PreconditionFailed, match="referenced by an index"):
        await operations.delete_artifact(session, upstream, repository, children[0], by=ALICE)
    deleted = await operations.delete_artifact(session, upstream, repository, index, by=ALICE)
    await session.commit()
    assert deleted[0] == index.digest and set(deleted) == {
        index.digest,
        *(c.digest for c in children),
    }
    assert await artifacts.get_repository(session, name) is None  # nothing left in it
    for digest in deleted:
        with pytest.raises(NotFound):
            await calls.get_manifest(upstream, name, digest)
    assert [entry[:2] for entry in await audit(session)] == [("delete", "artifact")] * 3


async def test_description_and_repository_deletion(
    session: AsyncSession, upstream: Upstream, registry: Registry
) -> None:
    project = await projects.create_project(session, name="repos", public=False, owner=None)
    image = await pushed(session, upstream, project, "repos/app", "v1", "c")
    repository = await artifacts.get_repository(session, "repos/app")
    assert repository is not None
    await operations.set_description(session, repository, "what it is", by=ALICE)
    await session.commit()
    assert repository.description == "what it is"

    storage = registry.server.storage_root
    folder = storage / "docker/registry/v2/repositories/repos/app"
    assert folder.is_dir()
    count = await operations.delete_repository(session, upstream, storage, repository, by=ALICE)
    await session.commit()
    assert count == 1
    assert not folder.exists()
    assert (
        await session.execute(select(Repository).where(Repository.name == "repos/app"))
    ).first() is None
    with pytest.raises(NotFound):
        await calls.get_manifest(upstream, "repos/app", image.digest)
    assert await audit(session) == [
        ("update", "repository", "repos/app"),
        ("delete", "repository", "repos/app"),
    ]
