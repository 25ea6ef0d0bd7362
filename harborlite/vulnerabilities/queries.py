"""The allowlists in the database. Each function takes a session."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Artifact, Project, Repository, Tag
from harborlite.vulnerabilities.models import SYSTEM_SCOPE, CveAllowlist


async def system_allowlist(session: AsyncSession) -> CveAllowlist | None:
    query = select(CveAllowlist).where(CveAllowlist.scope == SYSTEM_SCOPE)
    return (await session.execute(query)).scalar_one_or_none()


async def project_allowlist(session: AsyncSession, project_id: int) -> CveAllowlist | None:
    query = select(CveAllowlist).where(CveAllowlist.scope == str(project_id))
    return (await session.execute(query)).scalar_one_or_none()


async def project_allowlists(
    session: AsyncSession, project_ids: Sequence[int]
) -> dict[int, CveAllowlist]:
    if not project_ids:
        return {}
    query = select(CveAllowlist).where(CveAllowlist.project_id.in_(list(project_ids)))
    return {row.project_id or 0: row for row in (await session.execute(query)).scalars()}


async def policy_rows(
    session: AsyncSession, project: str
) -> tuple[dict[str, str], CveAllowlist | None, CveAllowlist | None] | None:
    """The named project's metadata, its allowlist and the system's (None: no such
    project)."""
    row = (
        await session.execute(
            select(Project.id, Project.project_metadata).where(Project.name == project)
        )
    ).first()
    if row is None:
        return None
    return (
        dict(row[1] or {}),
        await project_allowlist(session, row[0]),
        await system_allowlist(session),
    )


async def artifact_of(
    session: AsyncSession, repository: str, reference: str, by_digest: bool
) -> tuple[str, str, str, bool] | None:
    """The artifact ``repository:reference`` names in the index: its digest, type (IMAGE,
    CHART, CNAB...), manifest media type and whether it is an accessory (None: not indexed)."""
    query = (
        select(
            Artifact.digest,
            Artifact.type,
            Artifact.manifest_media_type,
            Artifact.subject_digest,
        )
        .join(Repository, Repository.id == Artifact.repository_id)
        .where(Repository.name == repository)
    )
    if by_digest:
        query = query.where(Artifact.digest == reference)
    else:
        query = query.join(Tag, Tag.artifact_id == Artifact.id).where(Tag.name == reference)
    row = (await session.execute(query.limit(1))).first()
    if row is None:
        return None
    return str(row[0]), str(row[1] or ""), str(row[2] or ""), row[3] is not None
