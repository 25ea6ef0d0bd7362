"""A robot's stored permissions (Harbor's list) read as what the permission function checks."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.auth.permissions import POLICY, SYSTEM_POLICY, Need, SystemNeed
from harborlite.db.models import Robot, utcnow


def needs_of(
    permissions: list[dict[str, Any]],
) -> tuple[dict[str, frozenset[Need]], frozenset[SystemNeed]]:
    """(project name or ``*`` -> needs, system needs) of ``[{kind, namespace, access}]``.

    What the policy does not know, or an ``effect`` other than allow, grants nothing."""
    projects: dict[str, set[Need]] = {}
    system: set[SystemNeed] = set()
    for permission in permissions:
        if not isinstance(permission, dict):
            continue
        kind, namespace = permission.get("kind"), permission.get("namespace")
        for access in permission.get("access") or []:
            if not isinstance(access, dict) or access.get("effect", "allow") not in ("allow", ""):
                continue
            pair = (access.get("resource"), access.get("action"))
            if kind == "project" and isinstance(namespace, str) and pair in POLICY:
                projects.setdefault(namespace, set()).add(pair)
            elif kind == "system" and pair in SYSTEM_POLICY:
                system.add(pair)
    return {name: frozenset(needs) for name, needs in projects.items()}, frozenset(system)


async def forget_project(session: AsyncSession, name: str) -> None:
    """A project is deleted: the system robots' entries naming it go (a project robot goes
    with its project). A namesake made later is not theirs to reach."""
    robots = (await session.execute(select(Robot).where(Robot.level == "system"))).scalars()
    for robot in robots:
        kept = [
            p
            for p in robot.permissions
            if not (
                isinstance(p, dict) and p.get("kind") == "project" and p.get("namespace") == name
            )
        ]
        if len(kept) != len(robot.permissions):
            robot.permissions = kept
            robot.update_time = utcnow()
    await session.flush()
