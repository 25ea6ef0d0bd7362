"""The artifact use cases every surface calls: tags, descriptions, deleting artifacts and
repositories. Each validates its input, changes the registry, then the index, and records its
audit entry; the REST API and the portal only parse, call and render.

The session rule: an operation reads in ``session``, asks the registry, and only then writes
the index and the audit entry (flushed, not committed: the caller commits). No database write
lock is held while the registry answers (SQLite takes it at the first write, PostgreSQL locks
rows at their first change), and a registry that refuses raises before anything was written, so
the index stays as it was. Call an operation before writing anything else in the session.

The registry comes in as an explicit ``upstream`` (and, where a tag or a repository leaves its
storage, ``storage_root``: the registry's filesystem storage when harborlite can reach it).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import accessories
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import repositories as repository_rows
from harborlite.artifacts import tags as tag_rows
from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.db.errors import flush_unique
from harborlite.db.models import Artifact, Repository, Tag
from harborlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from harborlite.immutability import operations as immutability
from harborlite.oci.reference import valid_tag
from harborlite.storage.configured import StorageLike
from harborlite.upstream import storage
from harborlite.upstream.calls import delete_manifest, get_manifest, put_manifest
from harborlite.upstream.client import Upstream

TAG_RULE = "up to 128 letters, digits, '_', '.' or '-', not starting with '.' or '-'"


def checked_tag(name: str) -> str:
    """``name`` if it is a valid tag, else :class:`BadRequest` saying the rule."""
    if not valid_tag(name):
        raise BadRequest(f"invalid tag {name!r}: {TAG_RULE}")
    return name


async def add_tag(
    session: AsyncSession,
    upstream: Upstream,
    repository: Repository,
    artifact: Artifact,
    name: str,
    *,
    by: Actor,
) -> Tag:
    """Tag ``artifact`` with ``name``: the registry stores its manifest again under the tag (so
    clients can pull it), then the index learns the tag. :class:`Conflict` if the repository
    has the tag already, also when a concurrent request made it first."""
    checked_tag(name)
    taken = f"tag {name} already exists in {repository.name}"
    if await tag_rows.get_tag(session, repository.id, name) is not None:
        raise Conflict(taken)
    repository_id, repository_name, artifact_id = repository.id, repository.name, artifact.id
    manifest, media_type = await get_manifest(upstream, repository_name, artifact.digest)
    await put_manifest(
        upstream, repository_name, name, manifest, media_type or artifact.manifest_media_type
    )
    tag = tag_rows.add_tag(session, repository, artifact, name)
    try:
        await flush_unique(session, taken)
    except Conflict:
        # a concurrent request made the tag first, and its registry write may have come before
        # ours: the registry's tag goes back to the artifact the index names
        winner = await tag_rows.get_tag(session, repository_id, name)
        if winner is not None and winner.artifact_id != artifact_id:
            named = await artifacts.get_artifact_by_id(session, winner.artifact_id)
            if named is not None:
                body, kind = await get_manifest(upstream, repository_name, named.digest)
                await put_manifest(
                    upstream, repository_name, name, body, kind or named.manifest_media_type
                )
        raise
    record(
        session,
        by.event(CREATE, "tag", f"{repository.name}:{name}", project_id=repository.project_id),
    )
    return tag


async def remove_tag(
    session: AsyncSession,
    upstream: Upstream,
    storage_root: StorageLike,
    repository: Repository,
    name: str,
    *,
    of: Artifact | None = None,
    by: Actor,
) -> None:
    """Remove the tag ``name`` (which must name ``of``, when given) from the registry first,
    then from the index. A registry that refuses raises, and nothing changes. The manifest
    stays, pullable by digest and by its other tags, as in Harbor."""
    tag = await tag_rows.get_tag(session, repository.id, name)
    if tag is None or (of is not None and tag.artifact_id != of.id):
        where = f"{repository.name}@{of.digest}" if of is not None else repository.name
        raise NotFound(f"tag {name} not found on {where}")
    await immutability.refuse_tag_removal(session, repository, name)  # 412 when protected
    await storage.remove_tag(upstream, storage_root, repository.name, name)
    await tag_rows.delete_tag(session, repository, name)
    record(
        session,
        by.event(DELETE, "tag", f"{repository.name}:{name}", project_id=repository.project_id),
    )


async def set_description(
    session: AsyncSession, repository: Repository, description: str, *, by: Actor
) -> None:
    """Replace the repository's description (an empty one clears it)."""
    await repository_rows.set_description(session, repository, description)
    record(
        session,
        by.event(
            UPDATE,
            "repository",
            repository.name,
            project_id=repository.project_id,
            detail="description",
        ),
    )


async def deletion_set(session: AsyncSession, root: Artifact) -> list[Artifact]:
    """``root`` and, depth first, each child that becomes an orphan without tags, and every
    accessory (signature, SBOM, referrer) of what goes, tagged or not, as Harbor does."""
    chosen: dict[int, Artifact] = {root.id: root}
    pending = [root]
    while pending:
        parent = pending.pop()
        linked = await accessories.accessories_of(session, parent.repository_id, [parent.digest])
        for accessory in linked.get(parent.digest, []):
            if accessory.id not in chosen:
                chosen[accessory.id] = accessory
                pending.append(accessory)
        children = (await artifacts.references_for(session, [parent.id])).get(parent.id, {})
        child_ids = [cid for cid in children.values() if cid is not None and cid not in chosen]
        if not child_ids:
            continue
        tagged = await tag_rows.tags_for(session, child_ids)
        for child_id in child_ids:
            if tagged.get(child_id):
                continue
            if any(pid not in chosen for pid in await artifacts.parent_ids(session, child_id)):
                continue
            child = await artifacts.get_artifact_by_id(session, child_id)
            if child is not None:
                chosen[child.id] = child
                pending.append(child)
    return list(chosen.values())


async def delete_artifact(
    session: AsyncSession,
    upstream: Upstream,
    repository: Repository,
    root: Artifact,
    *,
    by: Actor,
) -> list[str]:
    """Delete ``root`` as Harbor does, and return the digests deleted (``root``'s first).

    :class:`PreconditionFailed` while an index names it. An index takes with it each child
    that nothing else names and that carries no tag. The manifests go in the registry first,
    then the index forgets them (and the repository, if nothing is left in it), with one audit
    entry per artifact."""
    if await artifacts.parent_ids(session, root.id):
        raise PreconditionFailed(
            f"the artifact {repository.name}@{root.digest} is referenced by an index; "
            "delete the index first"
        )
    await immutability.refuse_artifact_deletion(session, repository, root)  # 412 when protected
    doomed = await deletion_set(session, root)
    for artifact in doomed:
        await delete_manifest(upstream, repository.name, artifact.digest)
    await artifacts.forget_artifacts(session, repository, [a.id for a in doomed])
    for artifact in doomed:
        record(
            session,
            by.event(
                DELETE,
                "artifact",
                f"{repository.name}@{artifact.digest}",
                project_id=repository.project_id,
            ),
        )
    await artifacts.drop_repository_if_empty(session, repository)
    return [a.digest for a in doomed]


async def delete_repository(
    session: AsyncSession,
    upstream: Upstream,
    storage_root: StorageLike,
    repository: Repository,
    *,
    by: Actor,
) -> int:
    """Delete every manifest of the repository in the registry, its folder in the registry's
    storage (when harborlite has it), then the repository and its artifacts from the index.
    Returns how many artifacts it held."""
    everything = await artifacts.artifacts_of_repository(session, repository.id)
    for artifact in everything:  # nothing goes while one holds an immutable tag (412)
        await immutability.refuse_artifact_deletion(session, repository, artifact)
    for artifact in everything:
        await delete_manifest(upstream, repository.name, artifact.digest)
    name, project_id = repository.name, repository.project_id
    await storage.remove_repository(storage_root, name)
    await repository_rows.delete_repository(session, repository)
    record(
        session,
        by.event(
            DELETE,
            "repository",
            name,
            project_id=project_id,
            detail=f"{len(everything)} artifacts",
        ),
    )
    return len(everything)
