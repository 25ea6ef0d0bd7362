"""Proxy-cache rows in the database. Each function takes a session."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Project
from harborlite.proxycache.models import ProxyProject


async def registry_of(session: AsyncSession, project_id: int) -> int | None:
    """The endpoint id the project caches, or None for an ordinary project."""
    row = await session.get(ProxyProject, project_id)
    return None if row is None else row.registry_id


async def registries_of(session: AsyncSession, project_ids: list[int]) -> dict[int, int]:
    if not project_ids:
        return {}
    rows = await session.execute(
        select(ProxyProject.project_id, ProxyProject.registry_id).where(
            ProxyProject.project_id.in_(project_ids)
        )
    )
    return {project_id: registry_id for project_id, registry_id in rows.all()}


async def proxy_of_name(session: AsyncSession, name: str) -> tuple[Project, int] | None:
    """The project named ``name`` and its endpoint id, when it is a proxy-cache project."""
    rows = await session.execute(
        select(Project, ProxyProject.registry_id)
        .join(ProxyProject, ProxyProject.project_id == Project.id)
        .where(Project.name == name)
    )
    found = rows.first()
    return None if found is None else (found[0], found[1])


async def projects_using(session: AsyncSession, registry_id: int) -> list[str]:
    """Names of the proxy-cache projects of an endpoint (an endpoint in use stays)."""
    rows = await session.execute(
        select(Project.name)
        .join(ProxyProject, ProxyProject.project_id == Project.id)
        .where(ProxyProject.registry_id == registry_id)
        .order_by(Project.name)
    )
    return list(rows.scalars())


def add(session: AsyncSession, project_id: int, registry_id: int) -> None:
    session.add(ProxyProject(project_id=project_id, registry_id=registry_id))
