"""Repository rows: lookup, listing with counts, search, catalog, storage used."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.artifacts.queries import artifacts_of_repository, forget_artifacts
from harborlite.artifacts.top_level import TOP_LEVEL
from harborlite.db.models import (
    Artifact,
    Member,
    Project,
    Repository,
    utcnow,
)


async def catalog(
    session: AsyncSession,
    *,
    project_ids: set[int] | None,
    last: str | None,
    limit: int,
) -> list[str]:
    """Repository names in lexical order after ``last``; ``project_ids=None`` means every one."""
    query = select(Repository.name)
    if project_ids is not None:
        if not project_ids:
            return []
        query = query.where(Repository.project_id.in_(project_ids))
    if last:
        query = query.where(Repository.name > last)
    rows = await session.execute(query.order_by(Repository.name).limit(limit))
    return list(rows.scalars())


async def visible_project_ids(session: AsyncSession, user_id: int | None) -> set[int]:
    """Ids of public projects plus those the user is a member of."""
    query = select(Project.id).where(Project.public.is_(True))
    ids = set((await session.execute(query)).scalars())
    if user_id is not None:
        rows = await session.execute(select(Member.project_id).where(Member.user_id == user_id))
        ids.update(rows.scalars())
    return ids


async def storage_used(session: AsyncSession, project_id: int | None = None) -> int:
    query = select(func.coalesce(func.sum(Artifact.size), 0))
    if project_id is not None:
        query = query.join(Repository, Repository.id == Artifact.repository_id).where(
            Repository.project_id == project_id
        )
    return int((await session.execute(query)).scalar_one())


async def list_repositories(
    session: AsyncSession,
    *,
    visible: ColumnElement[bool] | None,
    project_id: int | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[Repository], int]:
    """Repositories of one project, or of the projects ``visible`` allows; a page, the total."""
    query = select(Repository)
    if project_id is not None:
        query = query.where(Repository.project_id == project_id)
    if visible is not None:
        query = query.where(Repository.project_id.in_(select(Project.id).where(visible)))
    for condition in conditions:
        query = query.where(condition)
    total = int(
        (await session.execute(select(func.count()).select_from(query.subquery()))).scalar_one()
    )
    order = list(order_by) or [Repository.creation_time.desc(), Repository.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


async def artifact_counts(session: AsyncSession, repository_ids: Sequence[int]) -> dict[int, int]:
    """Top-level artifacts (children of indexes not counted) per repository."""
    if not repository_ids:
        return {}
    rows = await session.execute(
        select(Artifact.repository_id, func.count())
        .where(Artifact.repository_id.in_(repository_ids), TOP_LEVEL)
        .group_by(Artifact.repository_id)
    )
    return {repository_id: int(count) for repository_id, count in rows.all()}


async def delete_repository(session: AsyncSession, repository: Repository) -> None:
    ids = [a.id for a in await artifacts_of_repository(session, repository.id)]
    await forget_artifacts(session, repository, ids)
    await session.delete(repository)
    await session.flush()


async def set_description(session: AsyncSession, repository: Repository, description: str) -> None:
    repository.description = description
    repository.update_time = utcnow()
    await session.flush()


async def search_repositories(
    session: AsyncSession, visible: ColumnElement[bool] | None, fragment: str, limit: int = 100
) -> list[tuple[Repository, Project]]:
    query = (
        select(Repository, Project)
        .join(Project, Project.id == Repository.project_id)
        .where(Repository.name.contains(fragment, autoescape=True))
    )
    if visible is not None:
        query = query.where(visible)
    rows = await session.execute(query.order_by(Repository.name).limit(limit))
    return [(repository, project) for repository, project in rows.all()]


async def repository_count_by_visibility(
    session: AsyncSession, visible: ColumnElement[bool] | None
) -> dict[bool, int]:
    """public flag -> number of repositories, over the projects ``visible`` allows."""
    query = (
        select(Project.public, func.count(Repository.id))
        .join(Project, Project.id == Repository.project_id)
        .group_by(Project.public)
    )
    if visible is not None:
        query = query.where(visible)
    rows = await session.execute(query)
    return {bool(public): int(count) for public, count in rows.all()}
