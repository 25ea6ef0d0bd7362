"""What can be done to a project, its settings and its members: each use case once, for the REST
API, the portal and the CLI.

Each operation checks its input and the domain's rules (raising the error tree of
:mod:`harborlite.errors`), changes the database in the caller's session and writes its audit
entry with the ``by`` actor; the caller commits. Permissions to act in a project are the
caller's to check (its request context does); the rules that depend on the data are here:
a project holding repositories is not deleted, and a project keeps a ProjectAdmin unless a
system administrator says otherwise (:func:`harborlite.auth.permissions.may_drop_admin`), also
when two changes race (the project's row is locked before the admins are counted).
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts import queries as accounts
from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.auth.permissions import Principal, Role, may_drop_admin
from harborlite.auth.revocation import revoke
from harborlite.db.errors import flush_unique
from harborlite.db.models import Member, Project, User, utcnow
from harborlite.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from harborlite.projects import queries as projects
from harborlite.projects.names import PROJECT_NAME_RULE, valid_project_name
from harborlite.robots.grants import forget_project
from harborlite.robots.operations import grant_created_project
from harborlite.signatures.cache import note_change as signature_policy_changed

LAST_ADMIN = "the last project admin cannot be removed or demoted (a system administrator can)"


class LastAdmin(Forbidden):
    """The change would leave the project without a ProjectAdmin (403, as Harbor answers)."""


# Harbor's project settings (``/projects/{p}/metadatas/``), all kept as strings
BOOLEAN_SETTINGS = frozenset(
    {
        "public",
        "enable_content_trust",
        "enable_content_trust_cosign",
        "prevent_vul",
        "auto_scan",
        "auto_sbom_generation",
        "reuse_sys_cve_allowlist",
        "proxy_cache_local_on_not_found",
    }
)
SEVERITIES = ("none", "low", "medium", "high", "critical")
NUMERIC_SETTINGS = frozenset({"retention_id", "proxy_speed_kb", "max_upstream_conn"})
KNOWN_SETTINGS = BOOLEAN_SETTINGS | NUMERIC_SETTINGS | {"severity"}


# --- projects ---------------------------------------------------------------------------------


async def create_project(
    session: AsyncSession,
    *,
    name: str,
    public: bool,
    owner: User | None,
    by: Actor,
    metadata: dict[str, str] | None = None,
    robot_id: int | None = None,
) -> Project:
    """A new project; its owner (if any) becomes its first ProjectAdmin, and a robot that
    creates it (``robot_id``) gets what a ProjectAdmin may do in it (Harbor gives it nothing).

    BadRequest for a name Harbor would refuse, Conflict when the name is taken (also when a
    concurrent request takes it first: the database's unique key decides)."""
    if not valid_project_name(name):
        raise BadRequest(f"project name {name!r} is invalid: {PROJECT_NAME_RULE}")
    taken = f"project {name} already exists"
    if await projects.get_project_by_name(session, name) is not None:
        raise Conflict(taken)
    project = projects.new_project(
        session, name=name, public=public, owner=owner, metadata=metadata
    )
    await flush_unique(session, taken)
    if owner is not None:
        projects.new_member(session, project.id, owner.id, Role.PROJECT_ADMIN)
        await session.flush()
    if robot_id is not None:
        await grant_created_project(session, robot_id, name)
    record(session, by.event(CREATE, "project", name, project_id=project.id))
    return project


async def undeletable_because(session: AsyncSession, project: Project) -> str:
    """Why the project cannot be deleted, or ``""`` when it can."""
    count = await projects.repository_count(session, project.id)
    if count:
        return (
            f"the project {project.name} contains {count} repositories and cannot be "
            "deleted: delete them first"
        )
    return ""


async def delete_project(session: AsyncSession, project: Project, *, by: Actor) -> None:
    """Forget the project; PreconditionFailed while it holds repositories."""
    message = await undeletable_because(session, project)
    if message:
        raise PreconditionFailed(message)
    name, project_id = project.name, project.id
    await projects.delete_project(session, project)
    record(session, by.event(DELETE, "project", name, project_id=project_id))
    revoke(session, "project", name)  # no token naming it pulls from a namesake later
    await forget_project(session, name)


# --- settings (Harbor's project metadata) ------------------------------------------------------


def settings_of(project: Project) -> dict[str, str]:
    """The project's settings as Harbor shows them (``public`` follows the public flag)."""
    metadata = {k: str(v) for k, v in (project.project_metadata or {}).items()}
    if "public" in metadata:
        metadata["public"] = "true" if project.public else "false"
    return metadata


def checked_settings(values: dict[str, object]) -> dict[str, str]:
    """Harbor's setting names with values of the right kind, normalised; BadRequest if not."""
    if not values:
        raise BadRequest("no metadata given")
    result: dict[str, str] = {}
    for name, value in values.items():
        if name not in KNOWN_SETTINGS:
            known = ", ".join(sorted(KNOWN_SETTINGS))
            raise BadRequest(f"invalid metadata name {name!r}; known: {known}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise BadRequest(f"the value of {name} must be a string")
        if name in BOOLEAN_SETTINGS:
            if value.lower() not in ("true", "false"):
                raise BadRequest(f'{name} must be "true" or "false", got {value!r}')
            value = value.lower()
        elif name == "severity":
            if value.lower() not in SEVERITIES:
                raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}")
            value = value.lower()
        elif not value.lstrip("-").isdigit():
            raise BadRequest(f"{name} must be a whole number, got {value!r}")
        result[name] = value
    return result


async def update_metadata(
    session: AsyncSession, project: Project, metadata: dict[str, str], *, by: Actor
) -> None:
    """Set these metadata entries (``public`` is also the public flag), as ``PUT /projects``."""
    _revoke_if_private(session, project, metadata.get("public"))
    await projects.set_metadata(session, project, metadata)
    _audit_settings(session, by, UPDATE, project, f"metadata {sorted(metadata)}")


async def set_public(session: AsyncSession, project: Project, public: bool, *, by: Actor) -> None:
    """Make the project public (anyone may pull) or private (members only)."""
    _revoke_if_private(session, project, "true" if public else "false")
    await projects.set_metadata(session, project, {"public": "true" if public else "false"})
    _audit_settings(session, by, UPDATE, project, f"public={public}")


def _revoke_if_private(session: AsyncSession, project: Project, public: str | None) -> None:
    """A public project made private: anonymous tokens stop pulling from it at once."""
    if project.public and public is not None and public.lower() != "true":
        revoke(session, "anonymous", project.name)


async def add_settings(
    session: AsyncSession, project: Project, values: dict[str, object], *, by: Actor
) -> None:
    """Add settings not set yet (Conflict for one that is)."""
    metadata = checked_settings(values)
    existing = settings_of(project)
    taken = sorted(name for name in metadata if name in existing)
    if taken:
        raise Conflict(f"metadata {', '.join(taken)} already set: update it with PUT")
    await projects.set_metadata(session, project, metadata)
    _audit_settings(session, by, UPDATE, project, f"add {metadata}")


async def change_setting(
    session: AsyncSession, project: Project, name: str, value: object, *, by: Actor
) -> None:
    """Change one setting that is set (NotFound for one that is not)."""
    metadata = checked_settings({name: value})
    if name not in settings_of(project):
        raise NotFound(f"project {project.name} has no metadata {name}: add it with POST")
    await projects.set_metadata(session, project, metadata)
    _audit_settings(session, by, UPDATE, project, f"set {metadata}")


async def remove_setting(session: AsyncSession, project: Project, name: str, *, by: Actor) -> None:
    """Forget one setting (without ``public`` a project is private)."""
    if name not in settings_of(project):
        raise NotFound(f"project {project.name} has no metadata {name}")
    await projects.delete_metadata(session, project, name)
    _audit_settings(session, by, DELETE, project, f"metadata {name}")


def _audit_settings(
    session: AsyncSession, by: Actor, operation: str, project: Project, detail: str
) -> None:
    signature_policy_changed(session)  # enable_content_trust_cosign may have changed
    record(
        session, by.event(operation, "project", project.name, project_id=project.id, detail=detail)
    )


# --- members ----------------------------------------------------------------------------------


async def add_member(
    session: AsyncSession, project: Project, user: User, role: Role, *, by: Actor
) -> Member:
    """Make ``user`` a member with ``role``; Conflict when they already are one."""
    taken = f"{user.username} is already a member of {project.name}"
    if await projects.find_member(session, project.id, user.id) is not None:
        raise Conflict(taken)
    member = projects.new_member(session, project.id, user.id, role)
    await flush_unique(session, taken)
    _audit_member(session, by, CREATE, project, user, role)
    return member


async def set_member(
    session: AsyncSession, project: Project, user: User, role: Role, *, by: Actor
) -> Member:
    """Add ``user`` with ``role``, or give the member that role (the CLI's ``member add``).

    The host's operator acts as a system administrator: the last-admin rule does not stop it."""
    member = await projects.find_member(session, project.id, user.id)
    if member is None:
        return await add_member(session, project, user, role, by=by)
    lowered = _lower(Role(member.role_id), role)
    await projects.update_member(session, member, role)
    _audit_member(session, by, UPDATE, project, user, role)
    if lowered:
        revoke(session, "user", user.username)
    return member


async def change_member_role(
    session: AsyncSession,
    principal: Principal,
    project: Project,
    member: Member,
    role: Role,
    *,
    by: Actor,
) -> None:
    """Give the member another role; demoting the last ProjectAdmin is refused (Forbidden)."""
    current = await _holding_the_project(session, project, member)
    if role != Role.PROJECT_ADMIN:
        await _keep_an_admin(session, principal, project, current)
    user = await _user_of(session, current)
    lowered = _lower(Role(current.role_id), role)
    current.role_id = int(role)
    current.update_time = utcnow()
    await session.flush()
    _audit_member(session, by, UPDATE, project, user, role)
    if lowered:  # the tokens the user holds carry the old role's rights
        revoke(session, "user", user.username)


async def remove_member(
    session: AsyncSession, principal: Principal, project: Project, member: Member, *, by: Actor
) -> None:
    """Take the member out of the project; removing the last ProjectAdmin is refused."""
    current = await _holding_the_project(session, project, member)
    await _keep_an_admin(session, principal, project, current)
    user = await _user_of(session, current)
    await projects.delete_member(session, current)
    _audit_member(session, by, DELETE, project, user, None)
    revoke(session, "user", user.username)


# Harbor's roles from the most to the least they may do
_RANK = {
    Role.PROJECT_ADMIN: 5,
    Role.MAINTAINER: 4,
    Role.DEVELOPER: 3,
    Role.GUEST: 2,
    Role.LIMITED_GUEST: 1,
}


def _lower(old: Role, new: Role) -> bool:
    return _RANK[new] < _RANK[old]


async def _holding_the_project(session: AsyncSession, project: Project, member: Member) -> Member:
    """Lock the project, then read the membership again: a concurrent change is seen whole."""
    await projects.lock_project(session, project.id)
    current = await projects.current_member(session, project.id, member.id)
    if current is None:
        raise NotFound(f"member {member.id} not found")
    return current


async def _keep_an_admin(
    session: AsyncSession, principal: Principal, project: Project, member: Member
) -> None:
    """Refuse to drop ``member``'s ProjectAdmin role if no other ProjectAdmin would be left.

    The caller holds the project's lock, so the count cannot change until it commits."""
    if member.role_id != Role.PROJECT_ADMIN:
        return
    left = await projects.count_project_admins(session, project.id, besides=member.id)
    if not may_drop_admin(principal, left):
        raise LastAdmin(LAST_ADMIN)


async def _user_of(session: AsyncSession, member: Member) -> User:
    user = await accounts.get_user(session, member.user_id)
    if user is None:  # the user row cascades to its memberships: not while this one exists
        raise NotFound(f"member {member.id} not found")
    return user


def _audit_member(
    session: AsyncSession,
    by: Actor,
    operation: str,
    project: Project,
    user: User,
    role: Role | None,
) -> None:
    record(
        session,
        by.event(
            operation,
            "member",
            f"{project.name}/{user.username}",
            project_id=project.id,
            detail="" if role is None else f"role={role.label}",
        ),
    )
