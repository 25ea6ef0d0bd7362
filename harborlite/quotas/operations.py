"""The quota use cases the REST API, the portal and the CLI share: a new project's quota,
changing a limit, the system default, reading quotas with their usage.

Who may do what is decided by :func:`may_read` and :func:`may_manage` through
:mod:`harborlite.auth.permissions` (Harbor: system access to ``quota``, held by system
administrators); a project's members read its quota in its summary (``quota`` ``read``).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import UPDATE, Actor, record
from harborlite.auth.permissions import Principal, system_can
from harborlite.db.models import Project
from harborlite.errors import BadRequest, NotFound
from harborlite.quotas import queries
from harborlite.quotas.limits import STORAGE, checked_hard
from harborlite.quotas.models import Quota
from harborlite.quotas.usage import Clock

SORTABLE = ("id", "creation_time", "update_time", "hard.storage", "used.storage")


def may_read(principal: Principal) -> bool:
    """Listing and reading every quota: system administrators (Harbor's system access)."""
    return system_can(principal, "configuration", "read")


def may_manage(principal: Principal) -> bool:
    """Changing limits and the default, recounting: system administrators themselves (a
    robot's system permissions have no quota right to give yet)."""
    return may_read(principal) and principal.robot is None and principal.sysadmin


@dataclass(frozen=True)
class QuotaView:
    """A quota as it is shown: its limit, the project it is of, and the usage now."""

    quota: Quota
    project_id: int
    project_name: str
    owner_name: str
    used: int

    @property
    def hard(self) -> int:
        return self.quota.hard_storage


# --- limits ----------------------------------------------------------------------------------


def requested_limit(value: object, *, sysadmin: bool) -> int | None:
    """``storage_limit`` of a new project: None (the system default) when absent, 0, or asked
    by someone who is not a system administrator (Harbor's rule); else a checked limit."""
    if value is None or not sysadmin:
        return None
    if value == 0 and not isinstance(value, bool):
        return None
    return checked_hard(value, "storage_limit")


async def create_project_quota(
    session: AsyncSession, project_id: int, hard: int | None = None
) -> Quota:
    """The quota of a project just created: ``hard``, else the system default."""
    limit = hard if hard is not None else await queries.default_hard(session)
    await queries.ensure_quota(session, project_id, limit)
    quota = await queries.quota_of(session, project_id)
    assert quota is not None
    if quota.hard_storage != limit:
        await queries.set_hard(session, quota, limit)
    return quota


def hard_of(body: object) -> int:
    """The new limit of ``{"hard": {"storage": BYTES}}``, with Harbor's refusals."""
    hard = body.get("hard") if isinstance(body, dict) else None
    if not isinstance(hard, dict) or not hard:
        raise BadRequest("hard required in body")
    for name in hard:
        if name != STORAGE:
            raise BadRequest(f"resource {name} not support")
    if STORAGE not in hard:
        raise BadRequest(f"resource {STORAGE} not found")
    return checked_hard(hard[STORAGE], f"hard.{STORAGE}")


async def set_limit(
    session: AsyncSession, quota: Quota, hard: int, *, project: Project, by: Actor
) -> None:
    """Change a project's limit. Below its usage is allowed: its next uploads are refused."""
    before = quota.hard_storage
    await queries.set_hard(session, quota, hard)
    record(
        session,
        by.event(
            UPDATE,
            "quota",
            project.name,
            project_id=project.id,
            detail=f"hard.storage {before} -> {hard}",
        ),
    )


async def default_limit(session: AsyncSession) -> int:
    return await queries.default_hard(session)


async def set_default_limit(session: AsyncSession, value: object, *, by: Actor) -> int:
    """``storage_per_project``: what projects created from now on get (existing ones keep
    theirs, as in Harbor)."""
    hard = checked_hard(value, queries.STORAGE_PER_PROJECT)
    await queries.configure(session, queries.STORAGE_PER_PROJECT, hard)
    record(
        session,
        by.event(UPDATE, "configuration", queries.STORAGE_PER_PROJECT, detail=f"{hard} bytes"),
    )
    return hard


# --- reading -------------------------------------------------------------------------------


def _sort_keys(text: str | None) -> list[tuple[str, bool]]:
    keys: list[tuple[str, bool]] = []
    for raw in (text or "").split(","):
        item = raw.strip()
        if not item:
            continue
        descending = item.startswith("-")
        name = item.lstrip("-+").strip()
        if name not in SORTABLE:
            raise BadRequest(f"cannot sort by {name!r}; sortable: {', '.join(SORTABLE)}")
        keys.append((name, descending))
    return keys


def _value(view: QuotaView, key: str) -> Any:
    if key == "hard.storage":
        return view.hard  # -1 (unlimited) first, as Harbor sorts the stored value
    if key == "used.storage":
        return view.used
    value: int | datetime = getattr(view.quota, key)
    return value


async def list_quotas(
    session: AsyncSession,
    *,
    project_id: int | None,
    sort: str | None,
    offset: int,
    limit: int,
    window: timedelta,
) -> tuple[list[QuotaView], int]:
    """A page of quotas (of one project with ``project_id``) with their usage, and the total.
    Projects without a quota (made by the portal or the CLI, or before quotas) get one now."""
    keys = _sort_keys(sort)
    await queries.ensure_all_quotas(session, await queries.default_hard(session))
    rows, total = await queries.list_quotas(session, project_id=project_id, offset=None, limit=None)
    clock = Clock.of(window)
    used = await queries.usages(session, [p.id for _, p, _ in rows], clock.cutoff)
    views = [QuotaView(q, p.id, p.name, owner, used.get(p.id, 0)) for q, p, owner in rows]
    for key, descending in reversed(keys):
        views.sort(key=lambda view: _value(view, key), reverse=descending)
    return views[offset : offset + limit], total


async def quota_view(session: AsyncSession, quota_id: int, *, window: timedelta) -> QuotaView:
    rows, _ = await _rows_of(session, quota_id)
    if not rows:
        raise NotFound(f"quota {quota_id} not found")
    quota, project, owner = rows[0]
    used = await queries.usage(session, project.id, Clock.of(window).cutoff)
    return QuotaView(quota, project.id, project.name, owner, used)


async def _rows_of(
    session: AsyncSession, quota_id: int
) -> tuple[list[tuple[Quota, Project, str]], int]:
    quota = await queries.get_quota(session, quota_id)
    if quota is None:
        return [], 0
    return await queries.list_quotas(session, project_id=quota.project_id)


async def project_quota(
    session: AsyncSession, project_id: int, *, window: timedelta
) -> tuple[Quota, int]:
    """The project's quota (made now with the system default if it has none) and its usage."""
    quota = await queries.quota_of(session, project_id)
    if quota is None:
        quota = await create_project_quota(session, project_id)
    return quota, await queries.usage(session, project_id, Clock.of(window).cutoff)
