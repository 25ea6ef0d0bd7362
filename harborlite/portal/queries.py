"""Read queries the portal needs and the domain modules do not have (aggregates for pages).

Each takes a session and returns plain rows; none writes. Page-sized: aggregates are computed
only for the ids on the page being shown, so a page costs the same with 10 or 10,000 rows.
Artifacts are counted and listed as the REST API does (:data:`artifacts.top_level.TOP_LEVEL`):
an index's children are not artifacts of their own; the repository page shows them under it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

from sqlalchemy import ColumnElement, Date, cast, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.top_level import TOP_LEVEL
from harborlite.db.models import Artifact, AuditLog, Project, Repository, Tag


@dataclass(frozen=True)
class ProjectFigures:
    repositories: int = 0
    storage: int = 0


@dataclass(frozen=True)
class RepositoryRow:
    repository: Repository
    artifacts: int
    last_push: datetime | None


@dataclass(frozen=True)
class Listed:
    """An artifact of a repository's page with its tags; an index with its children's."""

    artifact: Artifact
    tags: list[Tag]
    children: list[tuple[Artifact, list[Tag]]]


@dataclass(frozen=True)
class PushRow:
    repository: str
    digest: str
    tags: list[str]
    pusher: str
    push_time: datetime
    size: int


@dataclass(frozen=True)
class Totals:
    projects: int
    repositories: int
    artifacts: int
    storage: int


async def project_figures(
    session: AsyncSession, project_ids: Sequence[int]
) -> dict[int, ProjectFigures]:
    if not project_ids:
        return {}
    repos = await session.execute(
        select(Repository.project_id, func.count())
        .where(Repository.project_id.in_(project_ids))
        .group_by(Repository.project_id)
    )
    counts = {pid: int(n) for pid, n in repos.all()}
    sizes = await session.execute(
        select(Repository.project_id, func.coalesce(func.sum(Artifact.size), 0))
        .join(Artifact, Artifact.repository_id == Repository.id)
        .where(Repository.project_id.in_(project_ids))
        .group_by(Repository.project_id)
    )
    storage = {pid: int(n) for pid, n in sizes.all()}
    return {pid: ProjectFigures(counts.get(pid, 0), storage.get(pid, 0)) for pid in project_ids}


async def repositories_of(
    session: AsyncSession, project_id: int, *, name: str = "", offset: int = 0, limit: int = 25
) -> tuple[list[RepositoryRow], int]:
    """A project's repositories, most recently pushed first, with artifact counts."""
    query = select(Repository).where(Repository.project_id == project_id)
    if name:
        query = query.where(Repository.name.contains(name, autoescape=True))
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    rows = await session.execute(
        query.order_by(Repository.update_time.desc(), Repository.id.desc())
        .offset(offset)
        .limit(limit)
    )
    repositories = list(rows.scalars())
    ids = [r.id for r in repositories]
    stats: dict[int, tuple[int, datetime | None]] = {}
    if ids:
        agg = await session.execute(
            select(Artifact.repository_id, func.count(), func.max(Artifact.push_time))
            .where(Artifact.repository_id.in_(ids), TOP_LEVEL)
            .group_by(Artifact.repository_id)
        )
        for rid, count, last in agg.all():
            stats[rid] = (int(count), _aware(last))
    return [RepositoryRow(r, *stats.get(r.id, (0, None))) for r in repositories], total


async def artifacts_of(
    session: AsyncSession, repository_id: int, *, offset: int = 0, limit: int = 25
) -> tuple[list[Listed], int]:
    """A repository's artifacts as the REST API lists them (newest push first, an index's
    children not on their own), each with its tags, an index with its children."""
    rows, total = await artifacts.list_artifacts(session, repository_id, offset=offset, limit=limit)
    children = await artifacts.children_for(session, rows)
    ids = [a.id for a in rows] + [c.id for kids in children.values() for c in kids]
    tags = await tag_rows.tags_for(session, ids, limit=tag_rows.INLINE_TAGS)
    listed = [
        Listed(
            artifact,
            tags.get(artifact.id, []),
            [(child, tags.get(child.id, [])) for child in children.get(artifact.id, [])],
        )
        for artifact in rows
    ]
    return listed, total


async def totals(session: AsyncSession, project_ids: set[int] | None) -> Totals:
    """What a viewer can reach: ``project_ids=None`` means everything (system admins)."""
    projects_q = select(func.count()).select_from(Project)
    repos_q = select(func.count()).select_from(Repository)
    artifacts_q = select(func.count()).select_from(Artifact).where(TOP_LEVEL)
    storage_q = select(func.coalesce(func.sum(Artifact.size), 0)).select_from(Artifact)
    if project_ids is not None:
        if not project_ids:
            return Totals(0, 0, 0, 0)
        projects_q = projects_q.where(Project.id.in_(project_ids))
        repos_q = repos_q.where(Repository.project_id.in_(project_ids))
        in_projects = Artifact.repository_id.in_(
            select(Repository.id).where(Repository.project_id.in_(project_ids))
        )
        artifacts_q = artifacts_q.where(in_projects)
        storage_q = storage_q.where(in_projects)
    n_projects = int((await session.execute(projects_q)).scalar_one())
    n_repos = int((await session.execute(repos_q)).scalar_one())
    n_artifacts = int((await session.execute(artifacts_q)).scalar_one())
    size = int((await session.execute(storage_q)).scalar_one())
    return Totals(n_projects, n_repos, n_artifacts, size)


async def recent_pushes(
    session: AsyncSession, project_ids: set[int] | None, limit: int = 8
) -> list[PushRow]:
    query = (
        select(Artifact, Repository.name)
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(TOP_LEVEL)
    )
    if project_ids is not None:
        if not project_ids:
            return []
        query = query.where(Repository.project_id.in_(project_ids))
    rows = (
        await session.execute(
            query.order_by(Artifact.push_time.desc(), Artifact.id.desc()).limit(limit)
        )
    ).all()
    tags = await tag_rows.tags_for(session, [a.id for a, _ in rows])
    return [
        PushRow(
            repository=name,
            digest=a.digest,
            tags=[t.name for t in tags.get(a.id, [])],
            pusher=a.pusher,
            push_time=a.push_time,
            size=a.size,
        )
        for a, name in rows
    ]


async def daily_activity(
    session: AsyncSession,
    since: datetime,
    operations: Sequence[str],
    project_ids: set[int] | None,
    *,
    until: datetime | None = None,
) -> dict[tuple[date, str], int]:
    """Audit entries per (UTC day, operation) in [since, until), counted by the database."""
    day: ColumnElement[Any] = cast(AuditLog.op_time, Date)
    if session.bind is not None and session.bind.dialect.name == "sqlite":
        day = func.substr(AuditLog.op_time, 1, 10)  # stored as "YYYY-MM-DD HH:MM:SS" in UTC
    query = (
        select(day, AuditLog.operation, func.count())
        .where(AuditLog.op_time >= since, AuditLog.operation.in_(operations))
        .group_by(day, AuditLog.operation)
    )
    if until is not None:
        query = query.where(AuditLog.op_time < until)
    if project_ids is not None:
        if not project_ids:
            return {}
        # as an expression, so the planner walks the time index rather than the project one
        query = query.where(func.coalesce(AuditLog.project_id, 0).in_(project_ids))
    counts: dict[tuple[date, str], int] = {}
    for value, operation, n in (await session.execute(query)).all():
        key_day = value if isinstance(value, date) else date.fromisoformat(str(value)[:10])
        counts[(key_day, operation)] = int(n)
    return counts


def _aware(value: datetime | None) -> datetime | None:
    if value is None or isinstance(value, str):
        return datetime.fromisoformat(value).replace(tzinfo=UTC) if value else None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def audit_page(
    session: AsyncSession,
    conditions: Sequence[ColumnElement[bool]],
    *,
    selective: bool,
    offset: int,
    limit: int,
) -> tuple[list[AuditLog], int]:
    """Audit entries, newest first. With a ``selective`` filter (a text search) few rows match,
    and reading the table then sorting those few beats walking the time index backwards."""
    query = select(AuditLog)
    for condition in conditions:
        query = query.where(condition)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    order: Any = AuditLog.op_time
    if selective:
        order = func.coalesce(AuditLog.op_time, AuditLog.op_time)  # an expression: no index walk
    rows = await session.execute(
        query.order_by(order.desc(), AuditLog.id.desc()).offset(offset).limit(limit)
    )
    return list(rows.scalars()), total
