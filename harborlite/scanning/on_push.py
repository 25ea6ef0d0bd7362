"""Scan on push: a ``PUSH_ARTIFACT`` in a project whose ``auto_scan`` metadata is ``"true"``
asks for a scan (a ``SCAN`` job, trigger ``EVENT``), as Harbor does.

An image manifest is scanned; an image index is skipped with a log line (its children are
pushed before it and each is scanned on its own push; the index's overview summarises them);
accessories (signatures, SBOMs) and other artifacts are not scanned. A project without a
usable scanner logs why and scans nothing. The projects with ``auto_scan`` are held in a
:class:`~harborlite.events.directory.Directory`: a push into any other costs no query.
"""

from __future__ import annotations

import logging

from sqlalchemy import String, cast, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import Artifact, Project, Repository
from harborlite.errors import HarborliteError
from harborlite.events.bus import PUSH_ARTIFACT, ArtifactEvent, Subscriber
from harborlite.events.directory import Directory
from harborlite.scanning.operations import INDEXES, request_scan, scannable

log = logging.getLogger("harborlite.scanning")


def auto_scan(project: Project) -> bool:
    return str((project.project_metadata or {}).get("auto_scan", "")).lower() == "true"


async def _auto_scanned(session: AsyncSession) -> frozenset[str]:
    """The names of the projects that scan on push."""
    rows = await session.execute(
        select(Project.name, Project.project_metadata).where(
            cast(Project.project_metadata, String).contains("auto_scan")
        )
    )
    return frozenset(
        name
        for name, metadata in rows.all()
        if str((metadata or {}).get("auto_scan", "")).lower() == "true"
    )


def scan_on_push(sessions: async_sessionmaker[AsyncSession]) -> Subscriber:
    scanning = Directory("auto-scanned projects", sessions, _auto_scanned, (Project,))

    async def subscriber(event: ArtifactEvent) -> None:
        if event.kind != PUSH_ARTIFACT or not event.digest:
            return
        if event.project not in await scanning.current():
            return  # the database decides below; this only spares the query
        async with sessions() as session:
            found = await session.execute(
                select(Project, Repository, Artifact)
                .join(Repository, Repository.project_id == Project.id)
                .join(Artifact, Artifact.repository_id == Repository.id)
                .where(Repository.name == event.repository, Artifact.digest == event.digest)
            )
            row = found.first()
            if row is None:
                return
            project, repository, artifact = row.tuple()
            if not auto_scan(project):
                return
            where = f"{repository.name}@{artifact.digest}"
            if artifact.manifest_media_type in INDEXES:
                log.info(
                    "scan on push: %s is an index: its images are scanned on their push", where
                )
                return
            if not scannable(artifact):
                return
            try:
                requested = await request_scan(
                    session, project, repository.name, artifact, tag=event.tag, trigger="EVENT"
                )
            except HarborliteError as error:
                log.warning("scan on push of %s not started: %s", where, error.message)
                return
            await session.commit()
        log.info("scan on push of %s: execution %s", where, requested.execution_id)

    return subscriber
