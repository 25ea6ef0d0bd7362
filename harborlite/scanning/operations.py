"""Asking for scans, once for every surface: scan an artifact (a ``SCAN`` background job), stop
it, read its log.

What is scanned: an image manifest (OCI or Docker v2) itself; an image index through its
children (Harbor does the same: each child gets its own report and the index's overview
summarises them, :mod:`harborlite.scanning.queries`). Accessories (signatures, SBOMs), charts
and other artifacts are refused with 400. A scan of an artifact whose scan is still pending or
running is refused with 409.

Each scanned digest has one report row per report mime type; a new scan replaces it (new
``report_id``), so a report always belongs to the latest scan.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import queries as artifacts
from harborlite.db.models import Artifact, JobExecution, Project, utcnow
from harborlite.errors import BadRequest, Conflict, NotFound, PreconditionFailed
from harborlite.jobs import operations as jobs
from harborlite.jobs.operations import DONE, PENDING, RUNNING, STOPPED
from harborlite.scanning.models import Scanner, ScanReport
from harborlite.scanning.queries import VULNERABILITY_REPORT, report_by_uuid
from harborlite.scanning.registrations import usable_scanner

SCAN = "SCAN"
SCAN_ALL = "SCAN_ALL"
IN_PROGRESS = (PENDING, RUNNING)

IMAGE_MANIFESTS = (
    "application/vnd.oci.image.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v2+json",
)
INDEXES = (
    "application/vnd.oci.image.index.v1+json",
    "application/vnd.docker.distribution.manifest.list.v2+json",
)


@dataclass(frozen=True)
class Requested:
    """A scan asked for: its execution and the report ids it will fill."""

    execution_id: int
    report_ids: tuple[str, ...]


def scannable(artifact: Artifact) -> bool:
    """An image manifest, not an accessory (signature, SBOM) nor a chart."""
    return (
        artifact.accessory_type is None
        and artifact.manifest_media_type in IMAGE_MANIFESTS
        and artifact.type == "IMAGE"
    )


async def targets_of(session: AsyncSession, artifact: Artifact, name: str) -> list[Artifact]:
    """The manifests a scan of ``artifact`` scans; BadRequest when there are none."""
    if artifact.accessory_type is not None:
        raise BadRequest(
            f"{name}@{artifact.digest} is an accessory ({artifact.accessory_type}) and is not "
            "scanned: scan the artifact it belongs to"
        )
    if artifact.manifest_media_type in INDEXES:
        children = (await artifacts.children_for(session, [artifact])).get(artifact.id, [])
        found = [child for child in children if scannable(child)]
        if not found:
            raise BadRequest(f"the index {name}@{artifact.digest} holds no image to scan")
        return found
    if not scannable(artifact):
        raise BadRequest(
            f"{name}@{artifact.digest} cannot be scanned: the scanner reads images, not "
            f"{artifact.type.lower()} artifacts ({artifact.manifest_media_type})"
        )
    return [artifact]


async def _busy(session: AsyncSession, report: ScanReport) -> bool:
    """Whether the report's scan is still pending or running (its execution not finished)."""
    if report.status not in IN_PROGRESS or report.execution_id is None:
        return False
    execution = await session.get(JobExecution, report.execution_id)
    return execution is not None and execution.status not in DONE


async def request_scan(
    session: AsyncSession,
    project: Project,
    repository: str,
    artifact: Artifact,
    *,
    tag: str | None = None,
    trigger: str = "MANUAL",
    scanner: Scanner | None = None,
) -> Requested:
    """Start a scan of ``artifact`` (of ``repository``, its full name). 412 when the project
    has no usable scanner, 400 for what cannot be scanned, 409 while a scan of it runs."""
    if scanner is None:
        scanner = await usable_scanner(session, project)
    targets = await targets_of(session, artifact, repository)
    rows: dict[str, ScanReport | None] = {}
    for target in targets:
        found = await session.execute(
            select(ScanReport).where(
                ScanReport.digest == target.digest, ScanReport.mime_type == VULNERABILITY_REPORT
            )
        )
        row = found.scalar()
        if row is not None and await _busy(session, row):
            raise Conflict(
                f"a scan of {repository}@{target.digest} is already {row.status.lower()}"
            )
        rows[target.digest] = row
    items: list[dict[str, Any]] = []
    for target in targets:
        items.append(
            {
                "digest": target.digest,
                "mime_type": target.manifest_media_type,
                "report_id": str(uuid.uuid4()),
            }
        )
    execution = await jobs.start(
        session,
        SCAN,
        {
            "repository": repository,
            "tag": tag or "",
            "scanner": scanner.uuid,
            "project_id": project.id,
            "targets": items,
        },
        ref=artifact.digest.split(":", 1)[-1][:64],
        trigger=trigger,
        exclusive=False,
    )
    for item in items:
        row = rows[item["digest"]]
        if row is None:
            row = ScanReport(digest=item["digest"], mime_type=VULNERABILITY_REPORT)
            session.add(row)
        row.uuid = item["report_id"]
        row.repository = repository
        row.scanner_uuid = scanner.uuid
        row.scanner = None
        row.status = PENDING
        row.execution_id = execution.id
        row.request_id = ""
        row.report = None
        row.log = f"{utcnow():%Y-%m-%dT%H:%M:%SZ} scan requested ({trigger.lower()})\n"
        row.start_time = None
        row.end_time = None
    await session.flush()
    return Requested(execution.id, tuple(item["report_id"] for item in items))


async def stop_scan(session: AsyncSession, artifact: Artifact, repository: str) -> None:
    """Stop the running or pending scan of ``artifact``; 412 when none is."""
    targets = await targets_of(session, artifact, repository)
    found = await session.execute(
        select(ScanReport).where(
            ScanReport.digest.in_([t.digest for t in targets]),
            ScanReport.mime_type == VULNERABILITY_REPORT,
        )
    )
    busy = [row for row in found.scalars().all() if await _busy(session, row)]
    if not busy:
        raise PreconditionFailed(f"no scan of {repository}@{artifact.digest} is running")
    for execution_id in {row.execution_id for row in busy if row.execution_id is not None}:
        execution = await jobs.get_execution(session, execution_id, SCAN)
        if execution.status not in DONE:
            await jobs.stop(session, execution)
        if execution.status == STOPPED:  # it had not started: nothing else will end them
            for row in busy:
                if row.execution_id == execution_id:
                    mark_stopped(row, "stopped before it started")
    await session.flush()


def mark_stopped(row: ScanReport, why: str) -> None:
    now = utcnow()
    row.status = STOPPED
    row.end_time = now
    row.log += f"{now:%Y-%m-%dT%H:%M:%SZ} {why}\n"


async def report_log(session: AsyncSession, artifact: Artifact, report_id: str) -> str:
    """The log of one of the artifact's scan reports (its own, or a child's of an index)."""
    report = await report_by_uuid(session, report_id)
    if report is None:
        raise NotFound(f"scan report {report_id} not found")
    if report.digest != artifact.digest:
        children = (await artifacts.children_for(session, [artifact])).get(artifact.id, [])
        if report.digest not in {child.digest for child in children}:
            raise NotFound(f"scan report {report_id} not found")
    text = report.log
    if report.execution_id is not None and report.status in IN_PROGRESS:
        execution = await session.get(JobExecution, report.execution_id)
        if execution is not None and execution.status in DONE:
            text += execution.log  # it ended without telling the report (e.g. never ran)
    return text
