"""The artifact index: repositories, artifacts and tags as harborlite saw them pushed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, delete, exists, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import (
    Artifact,
    ArtifactReference,
    Member,
    Project,
    Repository,
    Tag,
    utcnow,
)


@dataclass(frozen=True)
class PushedManifest:
    """What the index keeps of one accepted manifest."""

    digest: str
    manifest_media_type: str
    media_type: str
    type: str
    size: int
    references: list[dict[str, Any]] = field(default_factory=list)
    annotations: dict[str, str] = field(default_factory=dict)
    extra_attrs: dict[str, Any] = field(default_factory=dict)


async def get_repository(session: AsyncSession, name: str) -> Repository | None:
    result = await session.execute(select(Repository).where(Repository.name == name))
    return result.scalar_one_or_none()


async def ensure_repository(session: AsyncSession, project_id: int, name: str) -> Repository:
    repository = await get_repository(session, name)
    if repository is None:
        repository = Repository(project_id=project_id, name=name)
        session.add(repository)
        await session.flush()
    return repository


async def get_artifact(session: AsyncSession, repository_id: int, digest: str) -> Artifact | None:
    result = await session.execute(
        select(Artifact).where(Artifact.repository_id == repository_id, Artifact.digest == digest)
    )
    return result.scalar_one_or_none()


async def get_tag(session: AsyncSession, repository_id: int, name: str) -> Tag | None:
    result = await session.execute(
        select(Tag).where(Tag.repository_id == repository_id, Tag.name == name)
    )
    return result.scalar_one_or_none()


async def record_push(
    session: AsyncSession,
    *,
    project_id: int,
    repository_name: str,
    manifest: PushedManifest,
    tag: str | None,
    pusher: str,
    when: datetime | None = None,
) -> Artifact:
    """Upsert the artifact (and move ``tag`` onto it)."""
    now = when or utcnow()
    repository = await ensure_repository(session, project_id, repository_name)
    artifact = await get_artifact(session, repository.id, manifest.digest)
    if artifact is None:
        artifact = Artifact(
            repository_id=repository.id,
            digest=manifest.digest,
            pull_count=0,
        )
        session.add(artifact)
    artifact.manifest_media_type = manifest.manifest_media_type
    artifact.media_type = manifest.media_type
    artifact.type = manifest.type
    artifact.size = manifest.size
    artifact.references = manifest.references
    artifact.annotations = manifest.annotations
    artifact.extra_attrs = manifest.extra_attrs
    artifact.pusher = pusher
    artifact.push_time = now
    await session.flush()
    await _link_references(session, repository.id, artifact, manifest.references)
    if tag is not None:
        existing = await get_tag(session, repository.id, tag)
        if existing is None:
            session.add(
                Tag(repository_id=repository.id, artifact_id=artifact.id, name=tag, push_time=now)
            )
        else:
            existing.artifact_id = artifact.id
            existing.push_time = now
    repository.update_time = now
    await session.flush()
    return artifact


async def _link_references(
    session: AsyncSession, repository_id: int, artifact: Artifact, references: list[dict[str, Any]]
) -> None:
    """Keep ``artifact_references`` in step: this index's children, and parents waiting for it."""
    await session.execute(
        update(ArtifactReference)
        .where(
            ArtifactReference.child_id.is_(None),
            ArtifactReference.child_digest == artifact.digest,
            ArtifactReference.parent_id.in_(
                select(Artifact.id).where(Artifact.repository_id == repository_id)
            ),
        )
        .values(child_id=artifact.id)
    )
    digests = list(
        dict.fromkeys(str(r["child_digest"]) for r in references if r.get("child_digest"))
    )
    await session.execute(
        delete(ArtifactReference).where(ArtifactReference.parent_id == artifact.id)
    )
    if not digests:
        return
    rows = await session.execute(
        select(Artifact.digest, Artifact.id).where(
            Artifact.repository_id == repository_id, Artifact.digest.in_(digests)
        )
    )
    known = {digest: artifact_id for digest, artifact_id in rows.all()}
    for digest in digests:
        session.add(
            ArtifactReference(
                parent_id=artifact.id, child_id=known.get(digest), child_digest=digest
            )
        )
    await session.flush()


async def record_pulls(
    session: AsyncSession, repository_name: str, reference: str, count: int, when: datetime
) -> bool:
    """Count ``count`` manifest GETs of one reference, the last at ``when``, in a few UPDATEs.
    Returns False when the index does not know the artifact."""
    repository = await get_repository(session, repository_name)
    if repository is None:
        return False
    if reference.startswith(("sha256:", "sha384:", "sha512:")):
        artifact = await get_artifact(session, repository.id, reference)
    else:
        tag = await get_tag(session, repository.id, reference)
        if tag is None:
            return False
        tag.pull_time = when
        artifact = await session.get(Artifact, tag.artifact_id)
    if artifact is None:
        return False
    artifact.pull_time = when
    artifact.pull_count = (artifact.pull_count or 0) + count
    await session.execute(
        update(Repository)
        .where(Repository.id == repository.id)
        .values(pull_count=Repository.pull_count + count)
    )
    return True


async def resolve_reference(
    session: AsyncSession, repository_name: str, reference: str
) -> tuple[Repository, Artifact] | None:
    """The artifact a tag or digest names in a repository."""
    repository = await get_repository(session, repository_name)
    if repository is None:
        return None
    if ":" in reference:
        artifact = await get_artifact(session, repository.id, reference)
    else:
        tag = await get_tag(session, repository.id, reference)
        artifact = await session.get(Artifact, tag.artifact_id) if tag else None
    if artifact is None:
        return None
    return repository, artifact


async def tags_of(session: AsyncSession, artifact_id: int) -> list[Tag]:
    rows = await session.execute(select(Tag).where(Tag.artifact_id == artifact_id).order_by(Tag.id))
    return list(rows.scalars())


async def delete_artifact(session: AsyncSession, repository: Repository, digest: str) -> bool:
    """Forget an artifact and its tags; forget the repository when nothing is left in it."""
    artifact = await get_artifact(session, repository.id, digest)
    if artifact is None:
        return False
    await session.execute(delete(Tag).where(Tag.artifact_id == artifact.id))
    await session.delete(artifact)
    await session.flush()
    await drop_repository_if_empty(session, repository)
    return True


async def delete_tag(session: AsyncSession, repository: Repository, name: str) -> bool:
    tag = await get_tag(session, repository.id, name)
    if tag is None:
        return False
    await session.delete(tag)
    await session.flush()
    return True


async def drop_repository_if_empty(session: AsyncSession, repository: Repository) -> None:
    remaining = await session.execute(
        select(func.count()).select_from(Artifact).where(Artifact.repository_id == repository.id)
    )
    if int(remaining.scalar_one()) == 0:
        await session.delete(repository)
        await session.flush()


async def catalog(
    session: AsyncSession,
    *,
    project_ids: set[int] | None,
    last: str | None,
    limit: int,
) -> list[str]:
    """Repository names in lexical order after ``last``; ``project_ids=None`` means every one."""
    query = select(Repository.name)
    if project_ids is not None:
        if not project_ids:
            return []
        query = query.where(Repository.project_id.in_(project_ids))
    if last:
        query = query.where(Repository.name > last)
    rows = await session.execute(query.order_by(Repository.name).limit(limit))
    return list(rows.scalars())


async def visible_project_ids(session: AsyncSession, user_id: int | None) -> set[int]:
    """Ids of public projects plus those the user is a member of."""
    query = select(Project.id).where(Project.public.is_(True))
    ids = set((await session.execute(query)).scalars())
    if user_id is not None:
        rows = await session.execute(select(Member.project_id).where(Member.user_id == user_id))
        ids.update(rows.scalars())
    return ids


async def storage_used(session: AsyncSession, project_id: int | None = None) -> int:
    query = select(func.coalesce(func.sum(Artifact.size), 0))
    if project_id is not None:
        query = query.join(Repository, Repository.id == Artifact.repository_id).where(
            Repository.project_id == project_id
        )
    return int((await session.execute(query)).scalar_one())


# --- listing for the REST API: one page query, one COUNT, one query per related kind ---

# An artifact named by an index is that index's child; lists hide children, as Harbor does.
IS_CHILD = exists().where(ArtifactReference.child_id == Artifact.id)


async def list_repositories(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool] | None,
    project_id: int | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Repository], int]:
    """Repositories of one project, or of the projects ``visible`` allows; a page, the total."""
    query = select(Repository)
    if project_id is not None:
        query = query.where(Repository.project_id == project_id)
    if visible is not None:
        query = query.where(Repository.project_id.in_(select(Project.id).where(visible)))
    for condition in conditions:
        query = query.where(condition)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    order = list(order_by) or [Repository.creation_time.desc(), Repository.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


async def artifact_counts(session: AsyncSession, repository_ids: Sequence[int]) -> dict[int, int]:
    """Top-level artifacts (children of indexes not counted) per repository."""
    if not repository_ids:
        return {}
    rows = await session.execute(
        select(Artifact.repository_id, func.count())
        .where(Artifact.repository_id.in_(repository_ids), ~IS_CHILD)
        .group_by(Artifact.repository_id)
    )
    return {repository_id: int(count) for repository_id, count in rows.all()}


def tag_condition(kind: str, value: str) -> ColumnElement[bool]:
    """``tags=*`` tagged, ``tags=nil`` untagged, ``tags=~v`` fuzzy, ``tags=v`` exact."""
    if kind == "exact" and value == "*":
        return exists().where(Tag.artifact_id == Artifact.id)
    if kind == "exact" and value == "nil":
        return ~exists().where(Tag.artifact_id == Artifact.id)
    if kind == "fuzzy":
        return exists().where(
            Tag.artifact_id == Artifact.id, Tag.name.contains(value, autoescape=True)
        )
    return exists().where(Tag.artifact_id == Artifact.id, Tag.name == value)


async def list_artifacts(
    session: AsyncSession,
    repository_id: int,
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    include_children: bool = False,
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Artifact], int]:
    query = select(Artifact).where(Artifact.repository_id == repository_id)
    if not include_children:
        query = query.where(~IS_CHILD)
    for condition in conditions:
        query = query.where(condition)
    count = query.with_only_columns(func.count(Artifact.id)).order_by(None)
    total = int((await session.execute(count)).scalar_one())
    order = list(order_by) or [Artifact.push_time.desc(), Artifact.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


async def tags_for(session: AsyncSession, artifact_ids: Sequence[int]) -> dict[int, list[Tag]]:
    if not artifact_ids:
        return {}
    rows = await session.execute(
        select(Tag).where(Tag.artifact_id.in_(artifact_ids)).order_by(Tag.push_time.desc(), Tag.id)
    )
    result: dict[int, list[Tag]] = {}
    for tag in rows.scalars():
        result.setdefault(tag.artifact_id, []).append(tag)
    return result


async def references_for(
    session: AsyncSession, parent_ids: Sequence[int]
) -> dict[int, dict[str, int | None]]:
    """parent id -> {child digest: child id or None}."""
    if not parent_ids:
        return {}
    rows = await session.execute(
        select(
            ArtifactReference.parent_id, ArtifactReference.child_digest, ArtifactReference.child_id
        ).where(ArtifactReference.parent_id.in_(parent_ids))
    )
    result: dict[int, dict[str, int | None]] = {}
    for parent_id, digest, child_id in rows.all():
        result.setdefault(parent_id, {})[digest] = child_id
    return result


async def children_for(
    session: AsyncSession, parents: Sequence[Artifact]
) -> dict[int, list[Artifact]]:
    """Each index's children the index holds, in the order the index names them."""
    if not parents:
        return {}
    rows = await session.execute(
        select(ArtifactReference.parent_id, Artifact)
        .join(Artifact, Artifact.id == ArtifactReference.child_id)
        .where(ArtifactReference.parent_id.in_([p.id for p in parents]))
    )
    found: dict[int, dict[str, Artifact]] = {}
    for parent_id, child in rows.all():
        found.setdefault(parent_id, {})[child.digest] = child
    result: dict[int, list[Artifact]] = {}
    for parent in parents:
        children = found.get(parent.id)
        if children:
            named = [str(r.get("child_digest")) for r in parent.references or []]
            order = {digest: n for n, digest in enumerate(named)}
            result[parent.id] = sorted(
                children.values(), key=lambda c: (order.get(c.digest, len(order)), c.id)
            )
    return result


async def parent_ids(session: AsyncSession, artifact_id: int) -> list[int]:
    rows = await session.execute(
        select(ArtifactReference.parent_id).where(ArtifactReference.child_id == artifact_id)
    )
    return list(rows.scalars())


async def get_artifact_by_id(session: AsyncSession, artifact_id: int) -> Artifact | None:
    return await session.get(Artifact, artifact_id)


async def list_tags(
    session: AsyncSession,
    artifact_id: int,
    *,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Tag], int]:
    query = select(Tag).where(Tag.artifact_id == artifact_id)
    for condition in conditions:
        query = query.where(condition)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    order = list(order_by) or [Tag.push_time.desc(), Tag.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


def add_tag(session: AsyncSession, repository: Repository, artifact: Artifact, name: str) -> Tag:
    """A new tag in the session, not flushed: the caller flushes (and meets a duplicate)."""
    now = utcnow()
    tag = Tag(repository_id=repository.id, artifact_id=artifact.id, name=name, push_time=now)
    session.add(tag)
    repository.update_time = now
    return tag


async def artifacts_of_repository(session: AsyncSession, repository_id: int) -> list[Artifact]:
    rows = await session.execute(
        select(Artifact).where(Artifact.repository_id == repository_id).order_by(Artifact.id)
    )
    return list(rows.scalars())


async def forget_artifacts(
    session: AsyncSession, repository: Repository, artifact_ids: Sequence[int]
) -> None:
    """Remove artifacts (their tags and references go with them) from the index."""
    if not artifact_ids:
        return
    await session.execute(delete(Tag).where(Tag.artifact_id.in_(artifact_ids)))
    await session.execute(
        delete(ArtifactReference).where(ArtifactReference.parent_id.in_(artifact_ids))
    )
    await session.execute(
        update(ArtifactReference)
        .where(ArtifactReference.child_id.in_(artifact_ids))
        .values(child_id=None)
    )
    await session.execute(delete(Artifact).where(Artifact.id.in_(artifact_ids)))
    await session.flush()


async def delete_repository(session: AsyncSession, repository: Repository) -> None:
    ids = [a.id for a in await artifacts_of_repository(session, repository.id)]
    await forget_artifacts(session, repository, ids)
    await session.delete(repository)
    await session.flush()


async def set_description(session: AsyncSession, repository: Repository, description: str) -> None:
    repository.description = description
    repository.update_time = utcnow()
    await session.flush()


async def search_repositories(
    session: AsyncSession, visible: ColumnElement[bool] | None, fragment: str, limit: int = 100
) -> list[tuple[Repository, Project]]:
    query = (
        select(Repository, Project)
        .join(Project, Project.id == Repository.project_id)
        .where(Repository.name.contains(fragment, autoescape=True))
    )
    if visible is not None:
        query = query.where(visible)
    rows = await session.execute(query.order_by(Repository.name).limit(limit))
    return [(repository, project) for repository, project in rows.all()]


async def repository_count_by_visibility(
    session: AsyncSession, visible: ColumnElement[bool] | None
) -> dict[bool, int]:
    """public flag -> number of repositories, over the projects ``visible`` allows."""
    query = (
        select(Project.public, func.count(Repository.id))
        .join(Project, Project.id == Repository.project_id)
        .group_by(Project.public)
    )
    if visible is not None:
        query = query.where(visible)
    rows = await session.execute(query)
    return {bool(public): int(count) for public, count in rows.all()}
