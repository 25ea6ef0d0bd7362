"""Labels: who may write them, and creating, changing and deleting one, once for every surface.

Global labels (scope ``g``) are read by anyone signed in and written by system administrators
(:func:`harborlite.auth.permissions.system_can`); a project's labels (scope ``p``) follow the
project's roles (:func:`harborlite.auth.permissions.can`). A label's name is unique in its scope
(and project), also when two requests race for it: the second one gets a Conflict.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.auth.permissions import Action, Principal, ProjectAccess, can, system_can
from harborlite.db.errors import flush_unique
from harborlite.db.models import Label
from harborlite.errors import BadRequest, Conflict, Forbidden, Unauthorized
from harborlite.labels import queries as labels
from harborlite.labels.queries import GLOBAL, PROJECT

MAX_NAME = 128
MAX_DESCRIPTION = 1024
MAX_COLOR = 16


def require_right(principal: Principal, access: ProjectAccess | None, action: Action) -> None:
    """Refuse ``action`` on global labels (``access`` None) or on the labels of a project:
    Unauthorized for an anonymous caller, Forbidden for a signed-in one."""
    if access is None:
        if system_can(principal, "label", action):
            return
        what = f"{action} global labels (system administrators only)"
    else:
        if can(principal, access, "label", action):
            return
        what = f"{action} label in project {access.name}"
    if principal.anonymous:
        raise Unauthorized(f"authentication required to {what}")
    raise Forbidden(f"{principal.username} is not allowed to {what}")


def _checked(value: str, field: str, limit: int) -> str:
    if len(value) > limit:
        raise BadRequest(f"{field} must be at most {limit} characters")
    return value


def _checked_name(name: str) -> str:
    name = _checked(name, "name", MAX_NAME).strip()
    if not name:
        raise BadRequest("name is required")
    return name


def _audit_name(label: Label, access: ProjectAccess | None) -> str:
    return f"{access.name}/{label.name}" if access is not None else label.name


async def _refuse_a_taken_name(session: AsyncSession, label: Label) -> None:
    """Flush the new or renamed label, then make sure no other one has its name.

    The name's lock is held first (PostgreSQL), or the flush opens the one write transaction
    (SQLite): the check reads what a concurrent writer committed before it."""
    taken = f"label {label.name} already exists in this scope"
    await labels.lock_name(session, label.name)
    await flush_unique(session, taken)
    if await labels.others_named(session, label):
        await session.rollback()
        raise Conflict(taken)


async def create_label(
    session: AsyncSession,
    principal: Principal,
    access: ProjectAccess | None,
    *,
    name: str,
    description: str,
    color: str,
    by: Actor,
) -> Label:
    """A global label (``access`` None) or a label of the project ``access`` describes."""
    require_right(principal, access, "create")
    name = _checked_name(name)
    scope, project_id = (GLOBAL, None) if access is None else (PROJECT, access.project_id)
    if await labels.find_label(session, name, scope, project_id) is not None:
        raise Conflict(f"label {name} already exists in this scope")
    label = labels.new_label(
        session,
        name=name,
        description=_checked(description, "description", MAX_DESCRIPTION),
        color=_checked(color, "color", MAX_COLOR),
        scope=scope,
        project_id=project_id,
    )
    await _refuse_a_taken_name(session, label)
    record(session, by.event(CREATE, "label", _audit_name(label, access), project_id=project_id))
    return label


async def update_label(
    session: AsyncSession,
    principal: Principal,
    access: ProjectAccess | None,
    label: Label,
    *,
    name: str,
    description: str,
    color: str,
    by: Actor,
) -> None:
    """Rename or recolour ``label`` (``access``: its project's, None for a global label)."""
    require_right(principal, access, "update")
    name = _checked_name(name)
    renamed = name != label.name
    if renamed:
        other = await labels.find_label(session, name, label.scope, label.project_id)
        if other is not None and other.id != label.id:
            raise Conflict(f"label {name} already exists in this scope")
    labels.change_label(
        label,
        name=name,
        description=_checked(description, "description", MAX_DESCRIPTION),
        color=_checked(color, "color", MAX_COLOR),
    )
    if renamed:
        await _refuse_a_taken_name(session, label)
    else:
        await session.flush()
    record(
        session,
        by.event(UPDATE, "label", _audit_name(label, access), project_id=label.project_id),
    )


async def delete_label(
    session: AsyncSession,
    principal: Principal,
    access: ProjectAccess | None,
    label: Label,
    *,
    by: Actor,
) -> None:
    """Forget ``label``; the artifacts carrying it lose it."""
    require_right(principal, access, "delete")
    resource, project_id = _audit_name(label, access), label.project_id
    await labels.delete_label(session, label)
    record(session, by.event(DELETE, "label", resource, project_id=project_id))
