"""Robot accounts in the database. Each function takes a session."""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, and_, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import Project, Robot

SYSTEM, PROJECT = "system", "project"


async def get_robot(session: AsyncSession, robot_id: int) -> Robot | None:
    return await session.get(Robot, robot_id)


async def get_robot_by_name(session: AsyncSession, stored_name: str) -> Robot | None:
    """The robot of that stored name (``NAME`` or ``PROJECT+NAME``, without the prefix)."""
    result = await session.execute(select(Robot).where(Robot.name == stored_name))
    return result.scalar_one_or_none()


def expired_condition(expired: bool, now: int | None = None) -> ColumnElement[bool]:
    """Robots past their expiry (``expired``), or those still valid (not ``expired``)."""
    at = int(time.time()) if now is None else now
    past = and_(Robot.expires_at != -1, Robot.expires_at <= at)
    return past if expired else or_(Robot.expires_at == -1, Robot.expires_at > at)


async def list_robots(
    session: AsyncSession,
    *,
    level: str,
    project_id: int | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int | None = 10,
) -> tuple[list[Robot], int]:
    """A page of the robots of ``level`` (of the project, for project robots), newest first,
    and how many there are in all."""
    query = select(Robot).where(Robot.level == level)
    if project_id is not None:
        query = query.where(Robot.project_id == project_id)
    for condition in conditions:
        query = query.where(condition)
    count = query.with_only_columns(func.count(Robot.id)).order_by(None)
    total = int((await session.execute(count)).scalar_one())
    order = list(order_by) or [Robot.creation_time.desc(), Robot.id.desc()]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


def new_robot(session: AsyncSession, **values: Any) -> Robot:
    """A robot row added to the session, not flushed yet (the caller flushes)."""
    robot = Robot(**values)
    session.add(robot)
    return robot


async def delete_robot(session: AsyncSession, robot: Robot) -> None:
    await session.delete(robot)
    await session.flush()


async def project_names(session: AsyncSession, project_ids: set[int]) -> dict[int, str]:
    if not project_ids:
        return {}
    rows = await session.execute(
        select(Project.id, Project.name).where(Project.id.in_(project_ids))
    )
    return {project_id: name for project_id, name in rows.all()}
