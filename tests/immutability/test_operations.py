"""The immutability use cases in-process, on a real SQLite database: managing rules (who may,
the limits, the audit entries), the refusals, and the rules the /v2/ checks keep in memory."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.audit.events import Actor, Origin
from harborlite.auth.permissions import ANONYMOUS, Principal, ProjectAccess, Role
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import Artifact, ArtifactReference, AuditLog, Project, Repository, Tag
from harborlite.errors import BadRequest, Conflict, Forbidden, PreconditionFailed, Unauthorized
from harborlite.immutability import operations
from harborlite.immutability.cache import RuleCache, rule_cache
from harborlite.immutability.models import ImmutableRule
from harborlite.immutability.rules import MAX_RULES, rule_from_json

ALICE = Actor("alice", Origin("192.0.2.1", "tests"))
ADMIN = Principal(user_id=1, username="admin", sysadmin=True)
MESSAGE = "Failed to process request due to '{}' configured as immutable."
D1, D2, D3 = ("sha256:" + c * 64 for c in "123")


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'rules.db'}")
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def spec(tag: str = "v*", repository: str = "**", **changes: Any) -> Any:
    return rule_from_json(
        {
            "tag_selectors": [{"kind": "doublestar", "decoration": "matches", "pattern": tag}],
            "scope_selectors": {
                "repository": [
                    {"kind": "doublestar", "decoration": "repoMatches", "pattern": repository}
                ]
            },
            **changes,
        }
    )


async def project(session: AsyncSession, name: str) -> ProjectAccess:
    row = Project(name=name, public=False)
    session.add(row)
    await session.flush()
    return ProjectAccess(row.id, name, False, None)


async def image(
    session: AsyncSession, access: ProjectAccess, name: str, digest: str, *tags: str
) -> Artifact:
    repository = (
        await session.execute(select(Repository).where(Repository.name == name))
    ).scalar_one_or_none()
    if repository is None:
        repository = Repository(project_id=access.project_id, name=name)
        session.add(repository)
        await session.flush()
    artifact = Artifact(
        repository_id=repository.id,
        digest=digest,
        media_type="application/vnd.oci.image.config.v1+json",
        manifest_media_type="application/vnd.oci.image.manifest.v1+json",
    )
    session.add(artifact)
    await session.flush()
    for tag in tags:
        session.add(Tag(repository_id=repository.id, artifact_id=artifact.id, name=tag))
    await session.flush()
    return artifact


async def test_rules_are_created_changed_and_deleted_by_those_who_may(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        access = await project(session, "ops")
        rule = await operations.create_rule(session, ADMIN, access, spec(), by=ALICE)
        await session.commit()
        with pytest.raises(Conflict, match="immutable rule already exists"):
            await operations.create_rule(session, ADMIN, access, spec(disabled=True), by=ALICE)
        await session.rollback()

        maintainer = ProjectAccess(access.project_id, "ops", False, Role.MAINTAINER)
        developer = ProjectAccess(access.project_id, "ops", False, Role.DEVELOPER)
        bob = Principal(user_id=7, username="bob")
        other = await operations.create_rule(session, bob, maintainer, spec("1.*"), by=ALICE)
        with pytest.raises(Forbidden, match="bob is not allowed to create immutable tag rules"):
            await operations.create_rule(session, bob, developer, spec("x"), by=ALICE)
        with pytest.raises(Unauthorized):
            await operations.delete_rule(session, ANONYMOUS, developer, rule, by=ALICE)
        with pytest.raises(Conflict):  # made the same as the first
            await operations.update_rule(session, bob, maintainer, other, spec(), by=ALICE)
        await operations.update_rule(session, bob, maintainer, other, spec("2.*"), by=ALICE)
        await operations.set_disabled(session, bob, maintainer, other, True, by=ALICE)
        await session.commit()
        assert other.disabled and other.tag_selectors[0]["pattern"] == "2.*"
        await operations.delete_rule(session, bob, maintainer, other, by=ALICE)
        await session.commit()
        entries = list((await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars())
        every = "in repositories matching **"
        assert [(e.operation, e.resource, e.detail) for e in entries] == [
            ("create", f"ops rule {rule.id}", f"tags matching v* {every}"),
            ("create", f"ops rule {other.id}", f"tags matching 1.* {every}"),
            ("update", f"ops rule {other.id}", f"tags matching 2.* {every}"),
            ("update", f"ops rule {other.id}", f"tags matching 2.* {every} (disabled)"),
            ("delete", f"ops rule {other.id}", f"tags matching 2.* {every} (disabled)"),
        ]
        assert {e.resource_type for e in entries} == {"immutable_rule"}


async def test_a_project_holds_at_most_fifteen_rules(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        access = await project(session, "many")
        for n in range(MAX_RULES):
            await operations.create_rule(session, ADMIN, access, spec(f"v{n}"), by=ALICE)
        await session.commit()
        with pytest.raises(BadRequest, match="only 15 immutable tag rules are allowed"):
            await operations.create_rule(session, ADMIN, access, spec("more"), by=ALICE)
        other = await project(session, "few")  # another project has its own 15
        await operations.create_rule(session, ADMIN, other, spec("more"), by=ALICE)


async def test_deletes_and_retags_are_refused_for_protected_tags(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        access = await project(session, "lib")
        released = await image(session, access, "lib/team/app", D1, "v1", "latest")
        scratch = await image(session, access, "lib/team/app", D2, "dev")
        await operations.create_rule(session, ADMIN, access, spec("v*", "team/**"), by=ALICE)
        await session.commit()
        repository = (await session.execute(select(Repository))).scalar_one()

        with pytest.raises(PreconditionFailed) as refused:
            await operations.refuse_tag_removal(session, repository, "v1")
        assert refused.value.message == MESSAGE.format("team/app:v1")
        await operations.refuse_tag_removal(session, repository, "latest")
        with pytest.raises(PreconditionFailed, match="'team/app:v1'"):
            await operations.refuse_artifact_deletion(session, repository, released)
        await operations.refuse_artifact_deletion(session, repository, scratch)
        with pytest.raises(PreconditionFailed, match="'team/app:v1'"):  # moved elsewhere
            await operations.refuse_retag(session, access.project_id, repository.name, {"v1": D2})
        await operations.refuse_retag(  # the same digest, a new tag, an unprotected tag
            session, access.project_id, repository.name, {"v1": D1, "v2": D2, "latest": D2}
        )
        assert await operations.immutable_tags(
            session, access.project_id, repository.name, ["v1", "latest", "v9"]
        ) == {"v1", "v9"}


async def test_the_v2_checks_use_the_kept_rules_and_see_changes_at_once(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    cache = rule_cache(sessions)
    assert rule_cache(sessions) is cache
    async with sessions() as session:
        access = await project(session, "reg")
        index = await image(session, access, "reg/app", D3, "v-multi")
        child = await image(session, access, "reg/app", D2)
        session.add(ArtifactReference(parent_id=index.id, child_id=child.id, child_digest=D2))
        await image(session, access, "reg/app", D1, "v1")
        await session.commit()

    assert await operations.push_refusal(cache, "reg/app", "v1", D2) is None  # no rule yet
    assert await cache.matchers("reg") == []
    async with sessions() as session:
        await operations.create_rule(session, ADMIN, access, spec(), by=ALICE)
        await session.commit()
    # this process's change is seen at once, though the empty list was kept for 5 seconds
    assert await operations.push_refusal(cache, "reg/app", "v1", D2) == MESSAGE.format("app:v1")
    assert await operations.push_refusal(cache, "reg/app", "v1", D1) is None  # the same again
    assert await operations.push_refusal(cache, "reg/app", "v2", D2) is None  # a first push
    assert await operations.push_refusal(cache, "reg/app", "latest", D2) is None  # no rule
    assert await operations.push_refusal(cache, "nosuch/app", "v1", D2) is None
    assert await operations.delete_refusal(cache, "reg/app", D1) == MESSAGE.format("app:v1")
    assert await operations.delete_refusal(cache, "reg/app", "v1") == MESSAGE.format("app:v1")
    # a manifest an immutable index names is part of it
    assert await operations.delete_refusal(cache, "reg/app", D2) == MESSAGE.format("app:v-multi")
    assert await operations.delete_refusal(cache, "reg/app", "sha256:" + "9" * 64) is None

    async with sessions() as session:  # behind the cache's back, as another replica would
        await session.execute(update(ImmutableRule).values(disabled=True))
        await session.commit()
    assert await operations.push_refusal(cache, "reg/app", "v1", D2) is not None  # kept
    quick = RuleCache(sessions, ttl=0.2)
    assert await quick.matchers("reg") == []
    async with sessions() as session:
        await session.execute(update(ImmutableRule).values(disabled=False))
        await session.commit()
    assert await quick.matchers("reg") == []  # kept for 0.2 seconds
    await asyncio.sleep(0.3)
    assert len(await quick.matchers("reg")) == 1
