"""``harborlite reindex``: rebuild the artifact index from what the registry really holds.

What it cannot read is skipped and reported, never a reason to stop: a manifest that is not
JSON harborlite reads (too deep, too large, not JSON; the registry may hold one pushed around
harborlite, or before the gateway refused them) is left out of the index with a warning, and
a repository named exactly like its project (which the REST API cannot address, and a push
through harborlite can no longer create) is neither indexed nor removed from the index.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import accessories
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.describe import describe_manifest
from harborlite.db.models import Artifact, Repository, Tag
from harborlite.oci.json_reader import UnreadableJson, read_object
from harborlite.oci.mediatypes import MAX_MANIFEST_BYTES
from harborlite.projects import queries as projects
from harborlite.storage.configured import StorageLike
from harborlite.upstream.calls import ACCEPT, catalog
from harborlite.upstream.client import Upstream
from harborlite.upstream.storage import manifest_revisions

log = logging.getLogger("harborlite.reindex")


@dataclass
class Skipped:
    """Something of the registry's the index does not hold, and why."""

    name: str  # the repository
    digest: str  # the manifest ("" for a whole repository)
    reason: str
    tags: list[str] = field(default_factory=list)

    def __str__(self) -> str:
        what = f"{self.name}@{self.digest}" if self.digest else self.name
        tags = f" (tags: {', '.join(self.tags)})" if self.tags else ""
        return f"{what}{tags}: {self.reason}"


@dataclass
class ReindexReport:
    repositories: int = 0
    artifacts: int = 0
    tags: int = 0
    removed_artifacts: int = 0
    removed_repositories: int = 0
    created_projects: list[str] = field(default_factory=list)
    skipped: dict[tuple[str, str], Skipped] = field(default_factory=dict)

    def skip(self, name: str, digest: str, reason: str, tag: str | None = None) -> None:
        """Report what cannot be indexed (once per manifest, with the tags naming it)."""
        skipped = self.skipped.get((name, digest))
        if skipped is None:
            skipped = self.skipped[(name, digest)] = Skipped(name, digest, reason)
            log.warning("skipped %s", skipped)
        if tag is not None and tag not in skipped.tags:
            skipped.tags.append(tag)

    def summary(self) -> str:
        text = (
            f"indexed {self.repositories} repositories, {self.artifacts} artifacts, "
            f"{self.tags} tags; removed {self.removed_artifacts} stale artifacts and "
            f"{self.removed_repositories} stale repositories"
        )
        if self.created_projects:
            text += f"; created missing projects: {', '.join(self.created_projects)}"
        if self.skipped:
            text += f"\nskipped {len(self.skipped)} it cannot index:"
            text += "".join(f"\n  {skipped}" for skipped in self.skipped.values())
        return text


async def _index_reference(
    upstream: Upstream,
    session: AsyncSession,
    report: ReindexReport,
    project_id: int,
    name: str,
    reference: str,
    tag: str | None,
) -> str | None:
    status, headers, body = await upstream.fetch(
        "GET", name, f"/v2/{name}/manifests/{reference}", ("pull",), headers={"Accept": ACCEPT}
    )
    if status != 200:
        log.warning("%s:%s answered %s; skipped", name, reference, status)
        return None
    digest = headers.get("Docker-Content-Digest") or reference
    try:  # what the gateway would have refused at push is not indexed either
        read_object(body, "manifest", max_bytes=MAX_MANIFEST_BYTES)
    except UnreadableJson as error:
        report.skip(name, digest, str(error), tag)
        return None
    pushed = await describe_manifest(
        upstream, session, name, body, headers.get("Content-Type"), digest
    )
    existing = await artifacts.get_repository(session, name)
    previous = await artifacts.get_artifact(session, existing.id, digest) if existing else None
    await artifacts.record_push(
        session,
        project_id=project_id,
        repository_name=name,
        manifest=pushed,
        tag=tag,
        pusher=previous.pusher if previous else "",
        when=previous.push_time if previous else None,
    )
    return digest


async def _import_fallback(
    upstream: Upstream,
    session: AsyncSession,
    report: ReindexReport,
    project_id: int,
    repository: Repository,
    tag: str,
    digests: set[str],
) -> None:
    """A referrers-tag-schema index (tag ``sha256-<hex>``, written by clients while there was
    no referrers API): each manifest it lists becomes a referrer of that digest, as the spec
    asks of a registry that enables the API ("Enabling the Referrers API")."""
    subject = accessories.fallback_subject(tag)
    if subject is None:
        return
    found = await artifacts.resolve_reference(session, repository.name, tag)
    if found is None or not found[1].references:
        return
    for reference in found[1].references:
        digest = str(reference.get("child_digest") or "")
        if not digest:
            continue
        if digest not in digests:  # not found in the storage's revisions: ask for it
            indexed = await _index_reference(
                upstream, session, report, project_id, repository.name, digest, None
            )
            if indexed is None:
                continue
            digests.add(indexed)
        await accessories.link_fallback_referrer(session, repository.id, digest, subject)


async def reindex(
    upstream: Upstream, session: AsyncSession, storage_root: StorageLike
) -> ReindexReport:
    """Index every manifest the registry holds, forget what it no longer has; commits."""
    report = ReindexReport()
    names = await catalog(upstream)
    seen_repositories: set[str] = set()
    for name in names:
        if "/" not in name:  # the REST API could not address it: left as the index has it
            report.skip(name, "", "named like its project, which the REST API cannot address")
            seen_repositories.add(name)
            continue
        project_name = name.split("/", 1)[0]
        project = await projects.get_project_by_name(session, project_name)
        if project is None:
            project = await projects.create_project(
                session, name=project_name, public=False, owner=None
            )
            report.created_projects.append(project_name)
        status, _, body = await upstream.fetch("GET", name, f"/v2/{name}/tags/list", ("pull",))
        try:
            listed = read_object(body, "tag list", max_bytes=None) if status == 200 else {}
        except UnreadableJson as error:
            report.skip(name, "", str(error))
            seen_repositories.add(name)
            continue
        tags = [str(tag) for tag in listed.get("tags") or []]
        digests: set[str] = set()
        tag_names: set[str] = set()
        # children of indexes first would be ideal; untagged digests include them
        for digest in await manifest_revisions(storage_root, name):
            if await _index_reference(upstream, session, report, project.id, name, digest, None):
                digests.add(digest)
        for tag in sorted(tags):
            tagged = await _index_reference(upstream, session, report, project.id, name, tag, tag)
            if tagged:
                digests.add(tagged)
                tag_names.add(tag)
        repository = await artifacts.get_repository(session, name)
        if repository is None:
            continue
        for tag in sorted(tag_names):
            await _import_fallback(upstream, session, report, project.id, repository, tag, digests)
        seen_repositories.add(name)
        report.repositories += 1
        report.tags += len(tag_names)
        stale = await session.execute(
            select(Artifact).where(Artifact.repository_id == repository.id)
        )
        gone = [a.id for a in stale.scalars() if a.digest not in digests]
        await artifacts.forget_artifacts(session, repository, gone)  # and what they showed
        report.removed_artifacts += len(gone)
        for tag_row in list(
            (await session.execute(select(Tag).where(Tag.repository_id == repository.id))).scalars()
        ):
            if tag_row.name not in tag_names:
                await session.delete(tag_row)
        report.artifacts += len(digests)
    for repository in list((await session.execute(select(Repository))).scalars()):
        if repository.name not in seen_repositories:
            await session.delete(repository)
            report.removed_repositories += 1
    await session.commit()
    return report
