"""Copying an artifact into another repository, through the registry, without moving bytes
through harborlite (Harbor's ``POST .../artifacts?from=...``).

Every blob is mounted across repositories (a token harborlite signs for both), then each
manifest is stored by digest, children before their index, and the source's tags last; its
accessories (signatures, SBOMs, other referrers, with a legacy ``.sig`` tag) follow. Only
when the registry holds everything is the copy recorded in the artifact index, with one audit
entry: a copy that fails midway leaves no index entry, and the manifests it had already stored
(that the target did not hold before) are deleted again.

The copy can take many registry calls (each up to 30 s), so it holds no database connection
meanwhile: the reads end their transaction (a commit of nothing, which keeps the loaded rows)
before the registry is asked, and the index is written and committed afterwards, inside the
guard that deletes the copied manifests again if that write fails. Unlike the other operations
it therefore commits itself.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import accessories
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.describe import describe_manifest
from harborlite.artifacts.queries import PushedManifest
from harborlite.audit.events import CREATE, Actor, record
from harborlite.db.models import Artifact, Project, Repository
from harborlite.errors import BadRequest, HarborliteError, RegistryRefused
from harborlite.immutability import operations as immutability
from harborlite.oci.fields import ManifestError
from harborlite.oci.manifest import Descriptor, parse_manifest
from harborlite.oci.reference import valid_repository_name
from harborlite.upstream.calls import delete_manifest, get_manifest, mount_blob, put_manifest
from harborlite.upstream.client import Upstream

log = logging.getLogger("harborlite.artifacts")


@dataclass(frozen=True)
class Copied:
    digest: str
    body: bytes
    media_type: str


def _skipped(blob: Descriptor) -> bool:
    """Foreign layers live elsewhere: the registry holds nothing to mount."""
    kind = blob.media_type.lower()
    return bool(blob.urls) or "foreign" in kind or "nondistributable" in kind


async def copy_tree(
    upstream: Upstream, source: str, target: str, digest: str, done: list[Copied]
) -> Copied:
    """Copy the manifest ``digest`` (children first, blobs mounted) and append to ``done``."""
    for copied in done:
        if copied.digest == digest:
            return copied
    body, media_type = await get_manifest(upstream, source, digest)
    try:
        info = parse_manifest(body, media_type)
    except ManifestError as error:
        raise RegistryRefused(f"manifest {source}@{digest} cannot be read: {error}") from None
    if info.is_index:
        for child in info.references:
            await copy_tree(upstream, source, target, child.digest, done)
    else:
        blobs = ([info.config] if info.config is not None else []) + list(info.layers)
        mounted: set[str] = set()
        for blob in blobs:
            if blob.digest not in mounted and not _skipped(blob):
                await mount_blob(upstream, source, target, blob.digest)
                mounted.add(blob.digest)
    await put_manifest(upstream, target, digest, body, media_type or info.media_type)
    copied = Copied(digest, body, media_type or info.media_type)
    done.append(copied)
    return copied


async def _undo(upstream: Upstream, target: str, written: list[Copied], kept: set[str]) -> None:
    """Delete again the manifests this copy stored that were not in the target before."""
    for copied in reversed(written):
        if copied.digest in kept:
            continue
        with contextlib.suppress(HarborliteError):
            await delete_manifest(upstream, target, copied.digest)


async def copy_artifact(
    session: AsyncSession,
    upstream: Upstream,
    *,
    source: Repository,
    root: Artifact,
    project: Project,
    target: str,
    by: Actor,
) -> str:
    """Copy ``root`` of ``source`` (an index with its children) and its tags into the
    repository ``target`` (a full name) of ``project``; returns the digest copied.

    The caller has checked pull on the source and push on the target."""
    if target == project.name:  # the REST API could not address it, nor may a push make it
        raise BadRequest(
            f"repository name {target!r} is only a project name: copy to {target}/<name>"
        )
    if not valid_repository_name(target) or not target.startswith(f"{project.name}/"):
        raise BadRequest(f"invalid repository name {target!r}")
    tags = [tag.name for tag in await tag_rows.tags_of(session, root.id)]
    linked = await _accessories_of(session, source, root)  # they go with it, as in Harbor
    existing = await artifacts.get_repository(session, target)
    kept = (
        {a.digest for a in await artifacts.artifacts_of_repository(session, existing.id)}
        if existing is not None
        else set()
    )
    # an immutable tag of the target is not moved by a copy either (412)
    moved = {t: root.digest for t in tags}
    moved.update({t: digest for digest, its in linked.items() for t in its})
    await immutability.refuse_retag(session, project.id, target, moved)
    await session.commit()  # the reads are done: no connection is held while the registry works
    written: list[Copied] = []
    try:
        top = await copy_tree(upstream, source.name, target, root.digest, written)
        for tag in tags:
            await put_manifest(upstream, target, tag, top.body, top.media_type)
        for digest, its_tags in linked.items():  # signatures, SBOMs: after their subject
            accessory = await copy_tree(upstream, source.name, target, digest, written)
            for tag in its_tags:  # a legacy cosign ``.sig`` tag names the same digest there
                await put_manifest(upstream, target, tag, accessory.body, accessory.media_type)
        described = await _describe(session, upstream, target, written)
    except Exception:
        await _undo(upstream, target, written, kept)
        raise
    try:
        for copied, pushed in zip(written, described, strict=True):
            its_tags = tags if copied is top else linked.get(copied.digest, [])
            for tag in its_tags:
                await _record(session, project, target, pushed, tag, by)
            if not its_tags:
                await _record(session, project, target, pushed, None, by)
        record(
            session,
            by.event(
                CREATE,
                "artifact",
                f"{target}@{top.digest}",
                project_id=project.id,
                detail=f"copied from {source.name}@{top.digest}",
            ),
        )
        await session.commit()
    except Exception:
        await session.rollback()  # the write lock goes before the registry is asked again
        await _undo(upstream, target, written, kept)
        raise
    log.info("copied %s@%s to %s", source.name, root.digest, target)
    return top.digest


async def _accessories_of(
    session: AsyncSession, source: Repository, root: Artifact
) -> dict[str, list[str]]:
    """Every accessory of ``root`` (and of its accessories), each with its tags, subjects
    first."""
    found: dict[str, list[str]] = {}
    pending = [root.digest]
    while pending:
        subject = pending.pop(0)
        linked = await accessories.accessories_of(session, source.id, [subject])
        for accessory in linked.get(subject, []):
            if accessory.digest not in found and accessory.digest != root.digest:
                tags = await tag_rows.tags_of(session, accessory.id)
                found[accessory.digest] = [tag.name for tag in tags]
                pending.append(accessory.digest)
    return found


async def _describe(
    session: AsyncSession, upstream: Upstream, target: str, written: list[Copied]
) -> list[PushedManifest]:
    """What the index will keep of each copied manifest, read before anything is written (an
    index's size counts its children's, described just before it)."""
    sizes: dict[str, int] = {}
    described = []
    for copied in written:
        pushed = await describe_manifest(
            upstream,
            session,
            target,
            copied.body,
            copied.media_type,
            copied.digest,
            child_sizes=sizes,
        )
        sizes[copied.digest] = pushed.size
        described.append(pushed)
    return described


async def _record(
    session: AsyncSession,
    project: Project,
    target: str,
    pushed: PushedManifest,
    tag: str | None,
    by: Actor,
) -> None:
    await artifacts.record_push(
        session,
        project_id=project.id,
        repository_name=target,
        manifest=pushed,
        tag=tag,
        pusher=by.username,
    )
