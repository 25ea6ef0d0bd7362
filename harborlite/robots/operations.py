"""What can be done to a robot account, once for the REST API and the portal.

The rules are Harbor's (``handler/robot.go`` ``validate``, ``validateName``; the robot
controller): a lower case name, a level (``system`` or ``project``), a duration of ``-1``
(never expires) or a positive number of days, and non-empty permissions whose every
``{resource, action}`` the policy knows (:data:`~harborlite.auth.permissions.POLICY` for
``kind: project``, :data:`~harborlite.auth.permissions.SYSTEM_POLICY` for ``kind: system``). A
project robot has exactly one entry, for its project; a system robot may name several
projects, or ``*`` for every project, present and future.

Nobody grants more than they have: a user grants only what :func:`~harborlite.auth.permissions.can`
lets them do in each project named (``*`` takes a system administrator), and a robot only a
subset of its own permissions. A project robot is made and managed by those the project's
policy gives ``robot`` rights (ProjectAdmins), a system robot by system administrators.

Each operation checks the caller's right, changes the database in the caller's session and
writes its audit entry under the robot's login name (the robot prefix, then the stored name);
the caller commits. A change that takes a right away (delete, disable, new secret, fewer
permissions, a shorter duration) revokes the robot's registry tokens in the same transaction
(:func:`harborlite.auth.revocation.revoke`).
"""

from __future__ import annotations

import re
import time
from collections.abc import Collection
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.auth.permissions import (
    ANY_PROJECT,
    POLICY,
    SYSTEM_POLICY,
    Action,
    Principal,
    Role,
    can,
    system_can,
)
from harborlite.auth.revocation import revoke
from harborlite.db.errors import flush_unique
from harborlite.db.models import Project, Robot, utcnow
from harborlite.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from harborlite.projects import queries as projects
from harborlite.robots import queries as robots
from harborlite.robots.grants import needs_of
from harborlite.robots.queries import PROJECT, SYSTEM
from harborlite.robots.secrets import SECRET_RULE, generate_secret, hash_secret, valid_secret

NAME = re.compile(r"^[a-z0-9]+(?:[._-][a-z0-9]+)*$")
NAME_RULE = "robot name is not in lower case or contains illegal characters"
DURATION_RULE = "duration must be either -1(Never) or a positive integer"
NEVER = -1
MAX_DURATION = 2**31 - 1  # days, exclusive (Harbor's MaxInt32)
MAX_LOGIN_NAME = 255
MAX_DESCRIPTION = 1024
MAX_ENTRIES = 100
DAY = 86400
ALLOW = "allow"
ROBOT_SCOPE = (
    "permission scope is invalid. It must be equal to or more restrictive than the creator "
    "robot's permissions: "
)


# --- rules (pure) ------------------------------------------------------------------------------


def check_name(name: object) -> str:
    if not isinstance(name, str) or not NAME.match(name):
        raise BadRequest(NAME_RULE)
    return name


def check_level(level: object) -> str:
    if level not in (SYSTEM, PROJECT):
        raise BadRequest(f"bad request level: {level}; the level is system or project")
    return str(level)


def check_duration(duration: object) -> int:
    """``-1`` (never expires) or ``0 < days < 2^31``."""
    if isinstance(duration, bool) or not isinstance(duration, int):
        raise BadRequest(DURATION_RULE)
    if duration != NEVER and not 0 < duration < MAX_DURATION:
        raise BadRequest(DURATION_RULE)
    return duration


def check_description(description: object) -> str:
    if description is None:
        return ""
    if not isinstance(description, str):
        raise BadRequest("description must be a string")
    if len(description) > MAX_DESCRIPTION:
        raise BadRequest(f"description must be at most {MAX_DESCRIPTION} characters")
    return description


def expires_at(duration: int, start: datetime) -> int:
    """Unix seconds ``duration`` days after ``start``, or -1 for a robot that never expires."""
    return NEVER if duration == NEVER else int(start.timestamp()) + duration * DAY


def is_expired(robot: Robot, now: float | None = None) -> bool:
    at = time.time() if now is None else now
    return robot.expires_at != NEVER and robot.expires_at <= at


def login_name(robot: Robot, prefix: str) -> str:
    """What the robot logs in as: the prefix (``robot$``), then its stored name."""
    return prefix + robot.name


def short_name(robot: Robot) -> str:
    """The name it was created with (``ci`` of ``library+ci``)."""
    return robot.name.rpartition("+")[2]


def _bad_permission(resource: object, action: object) -> BadRequest:
    return BadRequest(f"bad request permission: {resource}:{action}")


def _checked_access(kind: str, raw: object) -> list[dict[str, str]]:
    if not isinstance(raw, list) or not raw:
        raise BadRequest("bad request empty access: every permission needs at least one access")
    known: Collection[tuple[str, str]] = SYSTEM_POLICY if kind == SYSTEM else POLICY
    result: list[dict[str, str]] = []
    seen: set[tuple[str, str]] = set()
    for item in raw:
        if not isinstance(item, dict):
            raise BadRequest("every access must be an object {resource, action}")
        resource, action = item.get("resource"), item.get("action")
        if not isinstance(resource, str) or not isinstance(action, str):
            raise _bad_permission(resource, action)
        if (resource, action) not in known:
            raise _bad_permission(resource, action)
        effect = item.get("effect") or ALLOW
        if effect != ALLOW:
            raise BadRequest(f"bad request effect: {effect}; only allow is supported")
        if (resource, action) not in seen:
            seen.add((resource, action))
            result.append({"resource": resource, "action": action, "effect": ALLOW})
    return result


def check_permissions(raw: object, level: str) -> list[dict[str, Any]]:
    """Harbor's permission list, checked and normalised: every access with its effect, no
    access twice, entries of one namespace merged. What the robot's row stores."""
    if not isinstance(raw, list) or not raw:
        raise BadRequest("bad request empty permission: a robot needs at least one permission")
    if len(raw) > MAX_ENTRIES:
        raise BadRequest(f"a robot takes at most {MAX_ENTRIES} permission entries")
    merged: dict[tuple[str, str], list[dict[str, str]]] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise BadRequest("every permission must be an object {kind, namespace, access}")
        kind, namespace = entry.get("kind"), entry.get("namespace")
        if kind not in (PROJECT, SYSTEM):
            raise BadRequest(f"bad request permission kind: {kind}; it is project or system")
        if kind == SYSTEM and namespace != "/":
            raise BadRequest('the namespace of a system permission must be "/"')
        if not isinstance(namespace, str) or not namespace:
            raise BadRequest("every project permission needs a namespace: a project name or *")
        access = _checked_access(str(kind), entry.get("access"))
        known = merged.setdefault((str(kind), namespace), [])
        known.extend(item for item in access if item not in known)
    if level == PROJECT:
        kinds = [kind for kind, _ in merged]
        if len(raw) != 1 or kinds != [PROJECT] or (PROJECT, ANY_PROJECT) in merged:
            raise BadRequest(
                "a project robot has exactly one permission, of kind project, whose namespace "
                "is its project"
            )
    return [
        {"kind": kind, "namespace": namespace, "access": access}
        for (kind, namespace), access in merged.items()
    ]


def _covers(new: list[dict[str, Any]], old: list[dict[str, Any]]) -> bool:
    """Whether ``new`` grants everything ``old`` did (so no token needs revoking)."""
    new_projects, new_system = needs_of(new)
    old_projects, old_system = needs_of(old)
    anywhere = new_projects.get(ANY_PROJECT, frozenset())
    return old_system <= new_system and all(
        needs <= new_projects.get(namespace, frozenset()) | anywhere
        for namespace, needs in old_projects.items()
    )


# --- who may --------------------------------------------------------------------------------


def _deny(principal: Principal, what: str) -> Unauthorized | Forbidden:
    if principal.anonymous:
        return Unauthorized(f"authentication required to {what}")
    return Forbidden(f"{principal.username} is not allowed to {what}")


async def require_right(
    session: AsyncSession, principal: Principal, project: Project | None, action: Action
) -> None:
    """Refuse ``action`` on the robots of ``project`` (None: the system robots): Unauthorized
    for an anonymous caller, Forbidden for a signed-in one. The ``robot`` right is enough, as
    in Harbor: a robot given ``robot:create`` needs no ``project:read`` besides."""
    if project is None:
        if not system_can(principal, "robot", action):
            raise _deny(principal, f"{action} system robot accounts")
        return
    access = await projects.project_access(session, principal, project)
    if not can(principal, access, "robot", action):
        raise _deny(principal, f"{action} robot accounts in project {project.name}")


async def project_of(session: AsyncSession, robot: Robot) -> Project | None:
    """The project of a project robot (None for a system robot)."""
    if robot.project_id is None:
        return None
    project = await projects.get_project(session, robot.project_id)
    if project is None:  # the robot's row cascades with its project
        raise NotFound(f"robot {robot.id} not found")
    return project


async def _check_grant(
    session: AsyncSession, principal: Principal, permissions: list[dict[str, Any]]
) -> None:
    """Refuse permissions the caller could not use themselves (Forbidden); NotFound for a
    project that does not exist."""
    project_needs, system_needs = needs_of(permissions)
    names = {namespace for namespace in project_needs if namespace != ANY_PROJECT}
    accesses = await projects.access_by_names(session, principal, names)
    missing = sorted(names - set(accesses))
    if missing:
        raise NotFound(f"project {missing[0]} not found")
    grant = principal.robot
    if grant is not None:
        within = system_needs <= grant.system and all(
            needs
            <= (
                grant.projects.get(ANY_PROJECT, frozenset())
                if namespace == ANY_PROJECT
                else grant.needs_in(namespace)
            )
            for namespace, needs in project_needs.items()
        )
        if not within:
            raise Forbidden(ROBOT_SCOPE + principal.username)
        return
    for system_resource, system_action in sorted(system_needs):
        if not system_can(principal, system_resource, system_action):
            raise Forbidden(
                f"{principal.username} may not grant {system_resource}:{system_action} "
                "on the system"
            )
    if ANY_PROJECT in project_needs and not principal.sysadmin:
        raise Forbidden('only system administrators may grant access to all projects ("*")')
    for name in sorted(names):
        for resource, action in sorted(project_needs[name]):
            if not can(principal, accesses[name], resource, action):
                raise Forbidden(
                    f"{principal.username} may not grant {resource}:{action} in project {name}"
                )


# --- use cases ------------------------------------------------------------------------------


def _audit(
    session: AsyncSession, by: Actor, operation: str, robot: Robot, prefix: str, detail: str = ""
) -> None:
    record(
        session,
        by.event(
            operation,
            "robot",
            login_name(robot, prefix),
            project_id=robot.project_id,
            detail=detail,
        ),
    )


async def create_robot(
    session: AsyncSession,
    principal: Principal,
    *,
    name: object,
    description: object,
    level: object,
    duration: object,
    disable: bool,
    permissions: object,
    prefix: str,
    by: Actor,
) -> tuple[Robot, str]:
    """A new robot and its secret (the only time the secret is told).

    BadRequest for input Harbor refuses, NotFound for a project that does not exist,
    Unauthorized or Forbidden for a caller who may not create it or grant its permissions,
    Conflict for a name taken (also by a concurrent request: the unique key decides)."""
    if principal.anonymous:
        raise Unauthorized("authentication required to create robot accounts")
    name, level = check_name(name), check_level(level)
    days, text = check_duration(duration), check_description(description)
    entries = check_permissions(permissions, level)
    project = None
    if level == PROJECT:
        namespace = entries[0]["namespace"]
        project = await projects.get_project_by_name(session, namespace)
        if project is None:
            raise NotFound(f"project {namespace} not found")
    await require_right(session, principal, project, "create")
    await _check_grant(session, principal, entries)
    stored = name if project is None else f"{project.name}+{name}"
    if len(prefix) + len(stored) > MAX_LOGIN_NAME:
        raise BadRequest(f"the robot's login name must be at most {MAX_LOGIN_NAME} characters")
    taken = f"robot {prefix}{stored} already exists"
    if await robots.get_robot_by_name(session, stored) is not None:
        raise Conflict(taken)
    secret = generate_secret()
    now = utcnow()
    robot = robots.new_robot(
        session,
        name=stored,
        description=text,
        level=level,
        project_id=project.id if project is not None else None,
        secret_hash=await hash_secret(secret),
        duration=days,
        expires_at=expires_at(days, now),
        disabled=disable,
        permissions=entries,
        creator_type="robot" if principal.robot is not None else "local",
        creator_ref=principal.robot.robot_id if principal.robot else principal.user_id or 0,
        creation_time=now,
        update_time=now,
    )
    await flush_unique(session, taken)
    detail = f"level {level}, {'never expires' if days == NEVER else f'{days} days'}"
    _audit(session, by, CREATE, robot, prefix, detail + (", disabled" if disable else ""))
    return robot, secret


async def update_robot(
    session: AsyncSession,
    principal: Principal,
    robot: Robot,
    *,
    prefix: str,
    by: Actor,
    name: object = None,
    level: object = None,
    description: object = None,
    disable: object = None,
    duration: object = None,
    permissions: object = None,
) -> None:
    """Harbor's PUT: description, disable, duration and permissions (None: unchanged). The
    name, the level and a project robot's project stay (BadRequest)."""
    project = await project_of(session, robot)
    await require_right(session, principal, project, "update")
    names = {robot.name, login_name(robot, prefix), short_name(robot)}
    if (level is not None and level != robot.level) or (name is not None and name not in names):
        raise BadRequest("cannot update the level or name of robot")
    if disable is not None and not isinstance(disable, bool):
        raise BadRequest("disable must be a boolean")
    text = robot.description if description is None else check_description(description)
    days = robot.duration if duration is None else check_duration(duration)
    entries = robot.permissions
    if permissions is not None:
        entries = check_permissions(permissions, robot.level)
        if project is not None and entries[0]["namespace"] != project.name:
            raise BadRequest("cannot update the project id of robot")
        if entries != robot.permissions:
            await _check_grant(session, principal, entries)
    changes: list[str] = []
    takes_away = False
    if text != robot.description:
        changes.append("description changed")
    if days != robot.duration:
        changes.append(f"duration {robot.duration} -> {days} days")
        new_expiry = expires_at(days, robot.creation_time)
        takes_away = new_expiry != NEVER and (
            robot.expires_at == NEVER or new_expiry < robot.expires_at
        )
        robot.duration, robot.expires_at = days, new_expiry
    if entries != robot.permissions:
        changes.append("permissions changed")
        takes_away = takes_away or not _covers(entries, robot.permissions)
    if disable is not None and disable != robot.disabled:
        changes.append("disabled" if disable else "enabled")
        takes_away = takes_away or bool(disable)
        robot.disabled = bool(disable)
    if not changes:
        return
    robot.description, robot.permissions = text, entries
    robot.update_time = utcnow()
    await session.flush()
    if takes_away:
        revoke(session, "robot", login_name(robot, prefix))
    _audit(session, by, UPDATE, robot, prefix, ", ".join(changes))


async def refresh_secret(
    session: AsyncSession,
    principal: Principal,
    robot: Robot,
    secret: str | None,
    *,
    prefix: str,
    by: Actor,
) -> str:
    """A new secret: generated when ``secret`` is empty (and returned), else the caller's
    (checked by Harbor's rule; ``""`` returned). The old one stops working at once."""
    project = await project_of(session, robot)
    await require_right(session, principal, project, "update")
    if secret and not valid_secret(secret):
        raise BadRequest(SECRET_RULE)
    new = secret or generate_secret()
    robot.secret_hash = await hash_secret(new)
    robot.update_time = utcnow()
    await session.flush()
    revoke(session, "robot", login_name(robot, prefix))
    _audit(session, by, UPDATE, robot, prefix, "secret refreshed")
    return "" if secret else new


async def set_disabled(
    session: AsyncSession,
    principal: Principal,
    robot: Robot,
    disabled: bool,
    *,
    prefix: str,
    by: Actor,
) -> None:
    """Disable the robot (refused at once everywhere) or enable it again."""
    await update_robot(session, principal, robot, prefix=prefix, by=by, disable=disabled)


async def delete_robot(
    session: AsyncSession, principal: Principal, robot: Robot, *, prefix: str, by: Actor
) -> None:
    """Forget the robot; its tokens stop working at once."""
    project = await project_of(session, robot)
    await require_right(session, principal, project, "delete")
    login = login_name(robot, prefix)
    _audit(session, by, DELETE, robot, prefix)
    await robots.delete_robot(session, robot)
    revoke(session, "robot", login)


async def grant_created_project(session: AsyncSession, robot_id: int, project_name: str) -> None:
    """A robot that created ``project_name`` gets what a ProjectAdmin may do in it (the
    project's creation is audited under the robot's name; this is part of it)."""
    robot = await robots.get_robot(session, robot_id)
    if robot is None:
        raise NotFound(f"robot {robot_id} not found")
    access = [
        {"resource": resource, "action": action, "effect": ALLOW}
        for (resource, action), roles in POLICY.items()
        if Role.PROJECT_ADMIN in roles
    ]
    entries = [dict(entry) for entry in robot.permissions]
    for entry in entries:
        if entry.get("kind") == PROJECT and entry.get("namespace") == project_name:
            known = list(entry.get("access") or [])
            entry["access"] = known + [item for item in access if item not in known]
            break
    else:
        entries.append({"kind": PROJECT, "namespace": project_name, "access": access})
    robot.permissions = entries  # a new list: the JSON column sees the change
    robot.update_time = utcnow()
    await session.flush()
