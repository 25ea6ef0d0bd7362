"""Scan all: the ``SCAN_ALL`` job asks for a scan of every image (its own schedule, Harbor's
``/system/scanAll/schedule``), and the metrics of the latest run.

Image manifests are scanned one by one (their own ``SCAN`` executions, which the job runner
runs a few at a time); an index is not asked for separately, its children are images of their
own. An image whose scan is still running is left to it; a project without a usable scanner
is skipped with a log line.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, JobExecution, Project, Repository
from harborlite.errors import HarborliteError, PreconditionFailed
from harborlite.jobs import operations as jobs
from harborlite.jobs.operations import DONE
from harborlite.jobs.runner import JobContext
from harborlite.scanning.models import ScanReport
from harborlite.scanning.operations import (
    IMAGE_MANIFESTS,
    IN_PROGRESS,
    SCAN,
    SCAN_ALL,
    mark_stopped,
    request_scan,
    scannable,
)
from harborlite.scanning.queries import VULNERABILITY_REPORT

__all__ = ["SCAN_ALL", "metrics", "run_scan_all", "stop_scan_all"]

TRIGGERS = {"MANUAL": "Manual", "SCHEDULE": "Schedule", "EVENT": "Event"}


async def run_scan_all(context: JobContext) -> None:
    async with context.sessions() as session:
        rows = (
            await session.execute(
                select(Artifact.id, Repository.name, Project.id)
                .join(Repository, Repository.id == Artifact.repository_id)
                .join(Project, Project.id == Repository.project_id)
                .where(
                    Artifact.accessory_type.is_(None),
                    Artifact.manifest_media_type.in_(IMAGE_MANIFESTS),
                )
                .order_by(Artifact.id)
            )
        ).all()
    reports: list[str] = []
    executions: list[int] = []
    skipped_projects: set[int] = set()
    trigger = "SCHEDULE" if context.parameters.get("trigger") == "SCHEDULE" else "SCAN_ALL"
    for number, (artifact_id, repository, project_id) in enumerate(rows):
        context.check()
        if project_id in skipped_projects:
            continue
        async with context.sessions() as session:
            artifact = await session.get(Artifact, artifact_id)
            project = await session.get(Project, project_id)
            if artifact is None or project is None or not scannable(artifact):
                continue
            try:
                requested = await request_scan(
                    session, project, repository, artifact, trigger=trigger
                )
            except HarborliteError as error:
                if error.status == 412:  # no scanner for the whole project
                    skipped_projects.add(project_id)
                context.log(f"{repository}@{artifact.digest}: skipped: {error.message}")
                continue
            await session.commit()
        reports.extend(requested.report_ids)
        executions.append(requested.execution_id)
        context.result = {"reports": reports, "executions": executions}
        context.progress = 100 * (number + 1) // max(1, len(rows))
    context.log(f"asked for {len(reports)} scans")


async def _latest(session: AsyncSession, *, scheduled: bool) -> JobExecution | None:
    query = select(JobExecution).where(JobExecution.kind == SCAN_ALL)
    if scheduled:
        query = query.where(JobExecution.trigger == "SCHEDULE")
    found = await session.execute(query.order_by(JobExecution.id.desc()).limit(1))
    execution: JobExecution | None = found.scalar()
    return execution


async def metrics(session: AsyncSession, *, scheduled: bool = False) -> dict[str, Any]:
    """Harbor's ``Stats`` of the latest (scheduled) scan all: ``{total, completed, metrics,
    ongoing, trigger}``; a report replaced by a newer scan counts as completed."""
    execution = await _latest(session, scheduled=scheduled)
    if execution is None:
        return {"total": 0, "completed": 0, "metrics": {}, "ongoing": False}
    wanted = [str(r) for r in (execution.result or {}).get("reports", [])]
    counts: dict[str, int] = {}
    found_ids: set[str] = set()
    if wanted:
        found = await session.execute(
            select(ScanReport.uuid, ScanReport.status, JobExecution.status)
            .outerjoin(JobExecution, JobExecution.id == ScanReport.execution_id)
            .where(ScanReport.uuid.in_(wanted), ScanReport.mime_type == VULNERABILITY_REPORT)
        )
        for report_id, status, job_status in found.all():
            found_ids.add(str(report_id))
            if status in IN_PROGRESS and job_status in ("Error", "Stopped"):
                status = job_status
            counts[str(status)] = counts.get(str(status), 0) + 1
    replaced = len(wanted) - len(found_ids)
    if replaced:
        counts["Success"] = counts.get("Success", 0) + replaced
    completed = sum(n for status, n in counts.items() if status in DONE)
    ongoing = execution.status not in DONE or completed < len(wanted)
    return {
        "total": len(wanted),
        "completed": completed,
        "metrics": counts,
        "ongoing": ongoing,
        "trigger": TRIGGERS.get(execution.trigger, "Manual"),
    }


async def stop_scan_all(session: AsyncSession) -> int:
    """Stop the latest scan all and the scans it asked for that have not ended; how many
    executions were stopped. 412 when none runs."""
    execution = await _latest(session, scheduled=False)
    if execution is None:
        raise PreconditionFailed("no scan all job is running")
    stopped = 0
    if execution.status not in DONE:
        await jobs.stop(session, execution)
        stopped += 1
    for execution_id in (execution.result or {}).get("executions", []):
        scan = await session.get(JobExecution, int(execution_id))
        if scan is None or scan.kind != SCAN or scan.status in DONE:
            continue
        await jobs.stop(session, scan)
        stopped += 1
        if scan.status == "Stopped":
            found = await session.execute(
                select(ScanReport).where(ScanReport.execution_id == scan.id)
            )
            for row in found.scalars().all():
                if row.status in IN_PROGRESS:
                    mark_stopped(row, "stopped with the scan all job")
    if not stopped:
        raise PreconditionFailed("no scan all job is running")
    await session.flush()
    return stopped
