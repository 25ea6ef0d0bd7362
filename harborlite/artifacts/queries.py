"""The artifact index: repositories, artifacts and tags as harborlite saw them pushed."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, Project, Repository, Tag, utcnow


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


async def record_pull(session: AsyncSession, repository_name: str, reference: str) -> bool:
    """Count a manifest GET. Returns False when the index does not know the artifact."""
    repository = await get_repository(session, repository_name)
    if repository is None:
        return False
    now = utcnow()
    if reference.startswith("sha256:") or reference.startswith("sha512:"):
        artifact = await get_artifact(session, repository.id, reference)
    else:
        tag = await get_tag(session, repository.id, reference)
        if tag is None:
            return False
        tag.pull_time = now
        artifact = await session.get(Artifact, tag.artifact_id)
    if artifact is None:
        return False
    artifact.pull_time = now
    artifact.pull_count = (artifact.pull_count or 0) + 1
    await session.execute(
        update(Repository)
        .where(Repository.id == repository.id)
        .values(pull_count=Repository.pull_count + 1)
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
    from harborlite.db.models import Member

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
