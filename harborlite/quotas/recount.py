"""Recounting a project's usage from the registry: what its artifacts really hold.

For each manifest the artifact index lists in the project, the registry gives the manifest (its
bytes, the blobs it names) and its storage (a folder or S3) the blobs' sizes (else the
manifest's descriptors are believed). Then, under the project's quota lock, what is recorded is
made to agree: every artifact's manifest and blobs are held; references of manifests that are
gone and rows that nothing counts any more (abandoned uploads, deleted artifacts) are
forgotten. A push in flight keeps its pending rows. Use it after upgrading to quotas (usage
starts at what pushes add), after artifacts were copied in through the API, or whenever the
usage looks wrong.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Project
from harborlite.errors import HarborliteError, NotFound
from harborlite.quotas import queries
from harborlite.quotas.limits import format_size
from harborlite.quotas.models import QuotaBlob
from harborlite.quotas.usage import Clock, ManifestPush, locked_hard, manifest_push
from harborlite.storage.configured import StorageLike, storage_of
from harborlite.storage.store import RegistryStorage, StorageError
from harborlite.upstream.calls import get_manifest
from harborlite.upstream.client import Upstream

READERS = 8  # manifests read from the registry at once


@dataclass(frozen=True)
class Recount:
    before: int
    after: int
    manifests: int
    blobs: int
    forgotten: int
    unreadable: list[str] = field(default_factory=list)  # repository@digest

    def summary(self, project: str) -> str:
        """One line for the CLI."""
        line = (
            f"{project}: {format_size(self.before)} -> {format_size(self.after)} "
            f"({self.manifests} manifests, {self.blobs} blobs; {self.forgotten} rows forgotten)"
        )
        if self.unreadable:
            line += f"; the registry did not give {len(self.unreadable)} manifests: "
            line += ", ".join(self.unreadable[:5]) + (" ..." if len(self.unreadable) > 5 else "")
        return line


async def projects_named(session: AsyncSession, names: Sequence[str] | None) -> dict[str, int]:
    """name -> id of the named projects (None or empty: every project, by name);
    :class:`NotFound` naming those that do not exist."""
    query = select(Project.name, Project.id).order_by(Project.name)
    if names:
        query = query.where(Project.name.in_(list(names)))
    found = {name: project_id for name, project_id in (await session.execute(query)).all()}
    missing = sorted(set(names or ()) - set(found))
    if missing:
        raise NotFound(f"no project named {', '.join(missing)}")
    return found


def _stored_size(storage: RegistryStorage | None, digest: str) -> int | None:
    if storage is None:
        return None
    try:
        return storage.blob_size(digest)
    except StorageError:
        return None


async def _read_manifests(
    upstream: Upstream, storage: RegistryStorage | None, artifacts: dict[str, str]
) -> tuple[dict[str, ManifestPush], list[str]]:
    gate = asyncio.Semaphore(READERS)
    pushes: dict[str, ManifestPush] = {}
    unreadable: list[str] = []

    async def read(digest: str, repository: str) -> None:
        async with gate:
            try:
                body, _ = await get_manifest(upstream, repository, digest)
            except HarborliteError:
                unreadable.append(f"{repository}@{digest}")
                return
            push = manifest_push(body)
            sizes: dict[str, int] = {}
            for blob, size in push.blobs.items():
                stored = await asyncio.to_thread(_stored_size, storage, blob)
                sizes[blob] = stored or size
        pushes[digest] = replace(push, digest=digest, blobs=sizes)

    await asyncio.gather(*(read(d, r) for d, r in sorted(artifacts.items())))
    return pushes, sorted(unreadable)


async def recount(
    session: AsyncSession,
    upstream: Upstream,
    where: StorageLike,
    project_id: int,
    *,
    window: timedelta,
) -> Recount:
    """Make the project's recorded usage what its artifacts hold; the caller commits.

    The registry is read before anything is written (no lock is held meanwhile)."""
    clock = Clock.of(window)
    before = await queries.usage(session, project_id, clock.cutoff)
    artifacts = await queries.artifact_digests(session, project_id)
    pushes, unreadable = await _read_manifests(upstream, storage_of(where), artifacts)
    await locked_hard(session, project_id)
    wanted: set[str] = set(pushes)
    for push in pushes.values():
        wanted |= set(push.blobs)
    rows = await queries.blob_rows(session, project_id, wanted)
    blobs: set[str] = set()
    for digest, push in pushes.items():
        _hold(session, rows, project_id, digest, push.size, manifest=True)
        for blob, size in push.blobs.items():
            blobs.add(blob)
            _hold(session, rows, project_id, blob, size, manifest=blob in pushes)
        named = await queries.references_of(session, project_id, digest)
        queries.add_references(session, project_id, digest, set(push.blobs) - named)
    await session.flush()
    forgotten = await queries.forget_unheld(session, project_id, clock.cutoff)
    after = await queries.usage(session, project_id, clock.cutoff)
    return Recount(before, after, len(pushes), len(blobs - set(pushes)), forgotten, unreadable)


def _hold(
    session: AsyncSession,
    rows: dict[str, QuotaBlob],
    project_id: int,
    digest: str,
    size: int,
    *,
    manifest: bool,
) -> None:
    row = rows.get(digest)
    if row is None:
        row = QuotaBlob(project_id=project_id, digest=digest, size=size, manifest=manifest)
        session.add(row)
        rows[digest] = row
    else:
        row.size = size
        row.manifest = row.manifest or manifest
