"""The maintained ``artifacts.top_level`` flag stays what the rule computes (an index's child or
a linked accessory is not top-level) through every push, link and delete, in either order of
arrival; migration 0131 computes it for the rows already there."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, select, text
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import accessories
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.models import ListingCount
from harborlite.artifacts.top_level import COMPUTED_IS_CHILD
from harborlite.db.engine import alembic_config, make_engine, make_sessionmaker, migrate
from harborlite.db.models import Artifact, Project, Repository

INDEX = "application/vnd.oci.image.index.v1+json"
MANIFEST = "application/vnd.oci.image.manifest.v1+json"
REPO = "p/app"


def _digest(name: str) -> str:
    return "sha256:" + hashlib.sha256(name.encode()).hexdigest()


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await migrate(engine)
    async with make_sessionmaker(engine)() as session:
        session.add(Project(name="p", project_metadata={}))
        await session.commit()
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _push(
    session: AsyncSession,
    name: str,
    *,
    children: tuple[str, ...] = (),
    subject: str | None = None,
    tag: str | None = None,
    cosign: bool = False,
) -> Artifact:
    project_id = (await session.execute(select(Project.id))).scalar_one()
    manifest = artifacts.PushedManifest(
        digest=_digest(name),
        manifest_media_type=INDEX if children else MANIFEST,
        media_type="application/vnd.oci.image.config.v1+json",
        type="IMAGE",
        size=10,
        references=[{"child_digest": _digest(c)} for c in children],
        artifact_type="application/vnd.dev.cosign.artifact.sig.v1+json" if subject else "",
        subject_digest=_digest(subject) if subject else None,
        cosign_layers=cosign,
    )
    artifact = await artifacts.record_push(
        session,
        project_id=project_id,
        repository_name=REPO,
        manifest=manifest,
        tag=tag,
        pusher="t",
    )
    await session.commit()
    return artifact


async def _flags(session: AsyncSession) -> dict[str, bool]:
    """digest name -> top_level, after checking each against the rule computed row by row."""
    session.expire_all()
    rows = (
        await session.execute(
            select(Artifact.digest, Artifact.top_level, ~COMPUTED_IS_CHILD).order_by(Artifact.id)
        )
    ).all()
    for digest, kept, computed in rows:
        assert bool(kept) == bool(computed), (digest, kept, computed)
    # the kept count of each repository is its top-level rows
    counted = dict(
        (
            await session.execute(
                select(Artifact.repository_id, func.count())
                .where(Artifact.top_level.is_(True))
                .group_by(Artifact.repository_id)
            )
        ).all()
    )
    kept_counts = dict(
        (await session.execute(select(ListingCount.repository_id, ListingCount.top_level))).all()
    )
    assert {r: n for r, n in kept_counts.items() if n or r in counted} == counted
    return {digest: bool(kept) for digest, kept, _ in rows}


def _shown(flags: dict[str, bool], *names: str) -> dict[str, bool]:
    return {_digest(n): flags[_digest(n)] for n in names}


async def _repository(session: AsyncSession) -> Repository:
    repository = await artifacts.get_repository(session, REPO)
    assert repository is not None
    return repository


async def test_children_pushed_before_and_after_their_index(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await _push(session, "amd64")  # before its index: shown until the index names it
        assert _shown(await _flags(session), "amd64") == {_digest("amd64"): True}
        await _push(session, "index", children=("amd64", "arm64"), tag="v1")
        await _push(session, "arm64")  # after: a child as it arrives
        flags = await _flags(session)
        assert _shown(flags, "index", "amd64", "arm64") == {
            _digest("index"): True,
            _digest("amd64"): False,
            _digest("arm64"): False,
        }
        # the index goes: its children are shown again
        await artifacts.delete_artifact(session, await _repository(session), _digest("index"))
        await session.commit()
        flags = await _flags(session)
        assert _shown(flags, "amd64", "arm64") == {_digest("amd64"): True, _digest("arm64"): True}
        # a child shared by two indexes stays hidden while one of them holds it
        await _push(session, "i1", children=("amd64",))
        await _push(session, "i2", children=("amd64",))
        repository = await _repository(session)
        gone = await artifacts.get_artifact(session, repository.id, _digest("i1"))
        assert gone is not None
        await artifacts.forget_artifacts(session, repository, [gone.id])
        await session.commit()
        assert _shown(await _flags(session), "amd64") == {_digest("amd64"): False}


async def test_signatures_and_referrers_before_and_after_their_subject(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        # an OCI referrer before its subject: shown (its subject is not indexed yet)
        await _push(session, "sbom", subject="image")
        assert _shown(await _flags(session), "sbom") == {_digest("sbom"): True}
        await _push(session, "image", tag="latest")
        # cosign's legacy layout: a .sig tag on a simple-signing manifest
        sig_tag = "sha256-" + _digest("image").split(":", 1)[1] + ".sig"
        await _push(session, "sig", tag=sig_tag, cosign=True)
        await _push(session, "sig-of-sbom", subject="sbom")
        flags = await _flags(session)
        assert _shown(flags, "image", "sbom", "sig", "sig-of-sbom") == {
            _digest("image"): True,
            _digest("sbom"): False,
            _digest("sig"): False,
            _digest("sig-of-sbom"): False,
        }
        rows, total = await artifacts.list_artifacts(session, (await _repository(session)).id)
        assert [a.digest for a in rows] == [_digest("image")] and total == 1
        # the subject goes alone (the index forgets it): its accessories are shown again,
        # an accessory of an accessory stays under its own subject
        await artifacts.delete_artifact(session, await _repository(session), _digest("image"))
        await session.commit()
        flags = await _flags(session)
        assert _shown(flags, "sbom", "sig", "sig-of-sbom") == {
            _digest("sbom"): True,
            _digest("sig"): True,
            _digest("sig-of-sbom"): False,
        }


async def test_a_referrers_tag_schema_link_hides_the_referrer(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        await _push(session, "image")
        await _push(session, "old-referrer")
        repository = await _repository(session)
        linked = await accessories.link_fallback_referrer(
            session, repository.id, _digest("old-referrer"), _digest("image")
        )
        await session.commit()
        assert linked
        assert _shown(await _flags(session), "old-referrer") == {_digest("old-referrer"): False}


def _upgrade_to_0130(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "0130_listing_indexes")


async def test_the_migration_computes_the_flag_of_the_rows_already_there(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_upgrade_to_0130)
            now = "'2026-01-01 00:00:00'"
            await connection.execute(
                text(
                    "INSERT INTO projects (id, name, public, metadata, creation_time, update_time)"
                    f" VALUES (1, 'p', 0, '{{}}', {now}, {now})"
                )
            )
            await connection.execute(
                text(
                    "INSERT INTO repositories (id, project_id, name, description, pull_count,"
                    f" creation_time, update_time) VALUES (1, 1, 'p/a', '', 0, {now}, {now})"
                )
            )
            for n, (name, subject) in enumerate(
                [
                    ("index", None),
                    ("child", None),
                    ("image", None),
                    ("sig", "image"),
                    ("orphan-sig", "absent"),
                ],
                start=1,
            ):
                subject_sql = f"'{_digest(subject)}'" if subject else "NULL"
                await connection.execute(
                    text(
                        "INSERT INTO artifacts (id, repository_id, digest, media_type,"
                        " manifest_media_type, type, size, pusher, push_time, pull_count,"
                        ' extra_attrs, "references", annotations, manifest_size,'
                        " artifact_type, subject_digest) VALUES"
                        f" ({n}, 1, '{_digest(name)}', 'c', 'm', 'IMAGE', 1, '', {now}, 0,"
                        f" '{{}}', '[]', '{{}}', 0, '', {subject_sql})"
                    )
                )
            await connection.execute(
                text(
                    "INSERT INTO artifact_references (parent_id, child_id, child_digest)"
                    f" VALUES (1, 2, '{_digest('child')}')"
                )
            )
        await migrate(engine)
        async with make_sessionmaker(engine)() as session:
            flags = await _flags(session)
        assert flags == {
            _digest("index"): True,
            _digest("child"): False,
            _digest("image"): True,
            _digest("sig"): False,
            _digest("orphan-sig"): True,
        }
    finally:
        await engine.dispose()
