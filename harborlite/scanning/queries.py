"""Reading scan results: an artifact's scan overview (Harbor's ``NativeReportSummary``) and its
stored vulnerabilities. Used by the API (``with_scan_overview``, ``additions/vulnerabilities``)
and by the pull policy (``prevent_vul``).

An image index has no report of its own: its overview summarises the reports of its children
(Harbor does the same): the counts are summed, the severity is the highest, the status is the
least finished one (Running before Pending before Error before Stopped before Success), and
``vulnerabilities_of`` gives the union of the children's vulnerabilities.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, ArtifactReference, JobExecution
from harborlite.scanning.models import ScanReport

# the report Harbor asks adapters for, and keys its overview and additions by
VULNERABILITY_REPORT = "application/vnd.security.vulnerability.report; version=1.1"
HARBOR_REPORT = "application/vnd.scanner.adapter.vuln.report.harbor+json; version=1.0"

SEVERITIES = ("None", "Unknown", "Negligible", "Low", "Medium", "High", "Critical")
# how unfinished a status is: an index shows the least finished of its children
_STATUS_RANK = {"Running": 0, "Pending": 1, "Error": 2, "Stopped": 3, "Success": 4}


def severity_rank(severity: str) -> int:
    """0 for None up to 6 for Critical; an unknown word counts as Unknown."""
    try:
        return SEVERITIES.index(severity)
    except ValueError:
        return 1


def _iso(moment: datetime | None) -> str | None:
    return moment.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z" if moment else None


@dataclass(frozen=True)
class ScanOverview:
    """Harbor's ``NativeReportSummary`` of one artifact."""

    report_id: str
    scan_status: str  # "Pending" | "Running" | "Success" | "Error" | "Stopped"
    # "None" | "Unknown" | "Negligible" | "Low" | "Medium" | "High" | "Critical" ("None" until
    # the scan succeeded)
    severity: str
    total: int
    fixable: int
    summary: dict[str, int] = field(default_factory=dict)  # severity -> count
    start_time: datetime | None = None
    end_time: datetime | None = None
    scanner: dict[str, str] | None = None  # name, vendor, version
    complete_percent: int = 0

    @property
    def duration(self) -> int:
        if self.start_time is None or self.end_time is None:
            return 0
        return max(0, int((self.end_time - self.start_time).total_seconds()))

    def as_harbor(self) -> dict[str, object]:
        shown: dict[str, object] = {
            "report_id": self.report_id,
            "scan_status": self.scan_status,
            "severity": self.severity,
            "duration": self.duration,
            "start_time": _iso(self.start_time),
            "end_time": _iso(self.end_time),
            "complete_percent": self.complete_percent,
            "scanner": self.scanner,
        }
        for key in ("start_time", "end_time", "scanner"):  # unknown yet: left out, never null
            if shown[key] is None:
                del shown[key]
        if self.scan_status == "Success":
            shown["summary"] = {
                "total": self.total,
                "fixable": self.fixable,
                "summary": dict(self.summary),
            }
        return shown


def status_of(report: ScanReport, execution_status: str | None = None) -> str:
    """The report's status; a scan whose job ended without saying so (stopped before it
    started, or given up after its replica died) takes its job's end."""
    if report.status in ("Pending", "Running") and execution_status in ("Error", "Stopped"):
        return execution_status
    return report.status


def overview_of_report(report: ScanReport, execution_status: str | None = None) -> ScanOverview:
    """The overview of one stored report (``execution_status``: of the job that runs it)."""
    status = status_of(report, execution_status)
    items = _items(report)
    summary: dict[str, int] = {}
    fixable = 0
    worst = "None"
    for item in items:
        severity = str(item.get("severity") or "Unknown")
        summary[severity] = summary.get(severity, 0) + 1
        if item.get("fix_version"):
            fixable += 1
        if severity_rank(severity) > severity_rank(worst):
            worst = severity
    scanner = report.scanner
    return ScanOverview(
        report_id=report.uuid,
        scan_status=status,
        severity=worst if status == "Success" else "None",
        total=len(items),
        fixable=fixable,
        summary=summary,
        start_time=report.start_time,
        end_time=report.end_time,
        scanner={str(k): str(v) for k, v in scanner.items()} if scanner else None,
        complete_percent=100 if status == "Success" else 0,
    )


def _items(report: ScanReport) -> list[dict[str, Any]]:
    if report.status != "Success" or not report.report:
        return []
    found = report.report.get("vulnerabilities") or []
    return [item for item in found if isinstance(item, dict)]


def merge_overviews(parts: Sequence[ScanOverview], report_id: str = "") -> ScanOverview | None:
    """One overview summarising several (an index's children)."""
    if not parts:
        return None
    status = min((p.scan_status for p in parts), key=lambda s: _STATUS_RANK.get(s, 0))
    summary: dict[str, int] = {}
    for part in parts:
        for severity, count in part.summary.items():
            summary[severity] = summary.get(severity, 0) + count
    worst = max((p.severity or "None" for p in parts), key=severity_rank)
    starts = [p.start_time for p in parts if p.start_time]
    ends = [p.end_time for p in parts if p.end_time]
    done = sum(1 for p in parts if p.scan_status == "Success")
    return ScanOverview(
        report_id=report_id or parts[0].report_id,
        scan_status=status,
        severity=worst if status == "Success" else "None",
        total=sum(p.total for p in parts),
        fixable=sum(p.fixable for p in parts),
        summary=summary,
        start_time=min(starts) if starts else None,
        end_time=max(ends) if status == "Success" and ends else None,
        scanner=parts[0].scanner,
        complete_percent=100 * done // len(parts),
    )


async def _reports(
    session: AsyncSession, digests: Sequence[str], *, successful: bool = False
) -> list[tuple[ScanReport, str | None]]:
    """The vulnerability reports of ``digests`` with the status of the job of each."""
    query = (
        select(ScanReport, JobExecution.status)
        .outerjoin(JobExecution, JobExecution.id == ScanReport.execution_id)
        .where(ScanReport.digest.in_(list(digests)), ScanReport.mime_type == VULNERABILITY_REPORT)
    )
    if successful:
        query = query.where(ScanReport.status == "Success")
    found = await session.execute(query)
    return [(report, status) for report, status in found.tuples().all()]


async def report_of(
    session: AsyncSession, digest: str, mime_type: str = VULNERABILITY_REPORT
) -> ScanReport | None:
    found = await session.execute(
        select(ScanReport).where(ScanReport.digest == digest, ScanReport.mime_type == mime_type)
    )
    return found.scalar()


async def report_by_uuid(session: AsyncSession, report_id: str) -> ScanReport | None:
    found = await session.execute(select(ScanReport).where(ScanReport.uuid == report_id))
    return found.scalar()


async def children_of(session: AsyncSession, digest: str) -> list[str]:
    """The child manifest digests of the index ``digest`` (any repository holding it)."""
    found = await session.execute(
        select(ArtifactReference.child_digest)
        .join(Artifact, Artifact.id == ArtifactReference.parent_id)
        .where(Artifact.digest == digest)
        .distinct()
    )
    return sorted(str(d) for d in found.scalars().all())


async def overviews_of(
    session: AsyncSession, digests: Sequence[str]
) -> dict[str, ScanOverview | None]:
    """:func:`overview_of` of several digests with one query for the plain ones."""
    wanted = list(dict.fromkeys(digests))
    if not wanted:
        return {}
    direct = {r.digest: overview_of_report(r, s) for r, s in await _reports(session, wanted)}
    answer: dict[str, ScanOverview | None] = {}
    for digest in wanted:
        answer[digest] = direct.get(digest) or await _index_overview(session, digest)
    return answer


async def _index_overview(session: AsyncSession, digest: str) -> ScanOverview | None:
    children = await children_of(session, digest)
    if not children:
        return None
    parts = [overview_of_report(r, s) for r, s in await _reports(session, children)]
    return merge_overviews(parts)


async def overview_of(session: AsyncSession, digest: str) -> ScanOverview | None:
    """The artifact's scan overview (``None``: never scanned). ``digest``: its manifest
    digest; an image index summarises its children."""
    found = await _reports(session, [digest])
    if found:
        return overview_of_report(*found[0])
    return await _index_overview(session, digest)


async def vulnerabilities_of(session: AsyncSession, digest: str) -> list[dict[str, Any]] | None:
    """The stored report's ``vulnerabilities`` items (``id``, ``package``, ``version``,
    ``fix_version``, ``severity``, ...); ``None`` when no successful report exists. An image
    index: its children's items together."""
    report = await report_of(session, digest)
    if report is not None:
        return _items(report) if report.status == "Success" else None
    children = await children_of(session, digest)
    if not children:
        return None
    reports = [r for r, _ in await _reports(session, children, successful=True)]
    if not reports:
        return None
    return [item for r in reports for item in _items(r)]
