"""Deleting artifacts through the registry, then from the index, with an audit entry each.

As Harbor does: an artifact an index still names cannot be deleted on its own; deleting an index
also deletes its children that nothing else names and that carry no tag.
"""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import queries as artifacts
from harborlite.audit.events import DELETE, AuditEvent, Origin, record
from harborlite.db.models import Artifact, Repository
from harborlite.errors import PreconditionFailed
from harborlite.services import Services
from harborlite.upstream.calls import delete_manifest
from harborlite.upstream.storage import remove_repository

log = logging.getLogger("harborlite.api")


async def deletion_set(session: AsyncSession, root: Artifact) -> list[Artifact]:
    """``root`` and, depth first, each child that becomes an orphan without tags."""
    chosen: dict[int, Artifact] = {root.id: root}
    pending = [root]
    while pending:
        parent = pending.pop()
        children = (await artifacts.references_for(session, [parent.id])).get(parent.id, {})
        child_ids = [cid for cid in children.values() if cid is not None and cid not in chosen]
        if not child_ids:
            continue
        tagged = await artifacts.tags_for(session, child_ids)
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


async def delete_artifact_deeply(
    services: Services,
    session: AsyncSession,
    repository: Repository,
    root: Artifact,
    username: str,
    origin: Origin,
    project_id: int,
) -> list[str]:
    """Delete ``root`` (and its orphaned children); the caller commits. Returns the digests."""
    if await artifacts.parent_ids(session, root.id):
        raise PreconditionFailed(
            f"the artifact {repository.name}@{root.digest} is referenced by an index; "
            "delete the index first"
        )
    doomed = await deletion_set(session, root)
    for artifact in doomed:
        await delete_manifest(services.upstream, repository.name, artifact.digest)
    await artifacts.forget_artifacts(session, repository, [a.id for a in doomed])
    for artifact in doomed:
        record(
            session,
            AuditEvent(
                username,
                DELETE,
                "artifact",
                f"{repository.name}@{artifact.digest}",
                origin,
                project_id=project_id,
            ),
        )
    await artifacts.drop_repository_if_empty(session, repository)
    return [a.digest for a in doomed]


async def delete_repository(
    services: Services,
    session: AsyncSession,
    repository: Repository,
    username: str,
    origin: Origin,
    project_id: int,
) -> int:
    """Delete every manifest of the repository in the registry, then the repository."""
    everything = await artifacts.artifacts_of_repository(session, repository.id)
    for artifact in everything:
        await delete_manifest(services.upstream, repository.name, artifact.digest)
    name = repository.name
    await remove_repository(services, name)
    await artifacts.delete_repository(session, repository)
    record(
        session,
        AuditEvent(
            username,
            DELETE,
            "repository",
            name,
            origin,
            project_id=project_id,
            detail=f"{len(everything)} artifacts",
        ),
    )
    return len(everything)
