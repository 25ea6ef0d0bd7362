"""The artifact index: repositories, artifacts and tags as harborlite saw them pushed."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, Select, and_, delete, func, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts.accessories import link_of
from harborlite.artifacts.paging import page_of
from harborlite.artifacts.tags import get_tag
from harborlite.artifacts.top_level import IS_CHILD as IS_CHILD
from harborlite.artifacts.top_level import TOP_LEVEL, refresh, shown_added, shown_count
from harborlite.db.models import (
    Artifact,
    ArtifactReference,
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
    manifest_size: int = 0  # the manifest's own bytes
    artifact_type: str = ""  # OCI 1.1: artifactType, else the config media type
    subject_digest: str | None = None  # OCI 1.1: the manifest's subject
    cosign_layers: bool = False  # a layer is a cosign simple-signing payload


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


async def _pushed_into(
    session: AsyncSession, repository_name: str, digest: str, tag: str | None
) -> tuple[Repository | None, Artifact | None, Tag | None]:
    """The repository, the artifact of ``digest`` in it and its ``tag``, as they are, in one
    query (None for what does not exist)."""
    found = and_(Artifact.repository_id == Repository.id, Artifact.digest == digest)
    query: Select[*tuple[Any, ...]] = select(Repository, Artifact).outerjoin(Artifact, found)
    if tag is not None:
        found_tag = and_(Tag.repository_id == Repository.id, Tag.name == tag)
        query = query.add_columns(Tag).outerjoin(Tag, found_tag)
    row = (await session.execute(query.where(Repository.name == repository_name))).first()
    if row is None:
        return None, None, None
    return row[0], row[1], row[2] if tag is not None else None


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
    repository, artifact, existing = await _pushed_into(
        session, repository_name, manifest.digest, tag
    )
    fresh = repository is None  # a new repository: nothing in it
    if repository is None:
        repository = Repository(project_id=project_id, name=repository_name, update_time=now)
        session.add(repository)
        await session.flush()
    created = artifact is None
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
    artifact.manifest_size = manifest.manifest_size
    artifact.artifact_type = manifest.artifact_type
    link = link_of(manifest.subject_digest, manifest.artifact_type, tag, manifest.cosign_layers)
    if link is not None:
        artifact.subject_digest = link.subject_digest
        artifact.subject_source = link.source
        artifact.accessory_type = link.accessory_type
    # else: a digest's body never changes, so a link it has came from a tag (a legacy
    # signature pushed again by digest) or a referrers-tag-schema index, and it stays
    artifact.pusher = pusher
    artifact.push_time = now
    await session.flush()
    if created:  # written top-level; refresh turns it if it is not
        await shown_added(session, repository.id, 1)
    children = await _link_references(
        session, repository.id, artifact, manifest.references, new=created
    )
    # it may be a child now (an index waits for it), its children and the accessories
    # waiting for its digest are shown under it, its own subject may be indexed
    await refresh(session, repository.id, ids=[artifact.id, *children], subjects=[artifact.digest])
    if tag is not None:
        if existing is None:
            session.add(
                Tag(repository_id=repository.id, artifact_id=artifact.id, name=tag, push_time=now)
            )
        else:
            existing.artifact_id = artifact.id
            existing.push_time = now
    if not fresh:  # a new one was written with it
        repository.update_time = now
    await session.flush()
    return artifact


async def _link_references(
    session: AsyncSession,
    repository_id: int,
    artifact: Artifact,
    references: list[dict[str, Any]],
    *,
    new: bool,
) -> set[int]:
    """Keep ``artifact_references`` in step: this index's children, and parents waiting for it.
    Returns the ids of the children it named before and names now (``new``: the artifact was
    just inserted, so it names none yet)."""
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
    touched: set[int] = set()
    if not new:
        before = await session.execute(
            select(ArtifactReference.child_id).where(
                ArtifactReference.parent_id == artifact.id, ArtifactReference.child_id.is_not(None)
            )
        )
        touched = {int(child_id) for child_id in before.scalars() if child_id is not None}
        await session.execute(
            delete(ArtifactReference).where(ArtifactReference.parent_id == artifact.id)
        )
    if not digests:
        return touched
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
    return touched | {child_id for child_id in known.values()}


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


async def delete_artifact(session: AsyncSession, repository: Repository, digest: str) -> bool:
    """Forget an artifact and its tags; forget the repository when nothing is left in it."""
    artifact = await get_artifact(session, repository.id, digest)
    if artifact is None:
        return False
    await forget_artifacts(session, repository, [artifact.id])
    await drop_repository_if_empty(session, repository)
    return True


async def drop_repository_if_empty(session: AsyncSession, repository: Repository) -> None:
    remaining = await session.execute(
        select(func.count()).select_from(Artifact).where(Artifact.repository_id == repository.id)
    )
    if int(remaining.scalar_one()) == 0:
        await session.delete(repository)
        await session.flush()


def top_level_count(repository_id: int) -> Select[Any]:
    """How many artifacts of the repository a list shows: its kept count (one row), else an
    index-only count of ``ix_artifacts_repository_top_level_push_time_id``."""
    return shown_count(repository_id)


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
    count = None
    if not include_children:
        query = query.where(TOP_LEVEL)
        if not conditions:
            count = top_level_count(repository_id)
    return await page_of(
        session,
        query,
        conditions=conditions,
        order_by=order_by,
        offset=offset,
        limit=limit,
        count=count,
    )


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
    ids = list(artifact_ids)
    # what they leave shown: the children of the indexes, the accessories of the subjects
    children = await session.execute(
        select(ArtifactReference.child_id).where(
            ArtifactReference.parent_id.in_(ids), ArtifactReference.child_id.is_not(None)
        )
    )
    orphans = {int(c) for c in children.scalars() if c is not None} - set(ids)
    shown = (
        await session.execute(
            select(func.count()).select_from(Artifact).where(Artifact.id.in_(ids), TOP_LEVEL)
        )
    ).scalar_one()
    digests = list(
        (await session.execute(select(Artifact.digest).where(Artifact.id.in_(ids)))).scalars()
    )
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
    await shown_added(session, repository.id, -int(shown))
    await refresh(session, repository.id, ids=orphans, subjects=digests)
