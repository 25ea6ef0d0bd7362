"""Harbor's role model, and the one place that decides what a caller may do.

Every rule lives here: the project policy (:data:`POLICY`, decided by :func:`allowed` and
:func:`can`), the system policy (:data:`SYSTEM_POLICY`, decided by :func:`system_can`: who lists
users, creates global labels, reads the whole audit log or the catalog), the rule on other users'
accounts (:func:`may_manage_user`) and the last-ProjectAdmin rule (:func:`may_drop_admin`).

The token service grants scopes through :func:`registry_actions`; the ``/v2/`` gateway then
checks the signed token's claims, which carry that decision. The REST API, the portal and the CLI
call these functions through their domain operations and request contexts. Resources and actions
are ``Literal`` types, so a misspelt one fails ``mypy --strict`` instead of silently denying.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from enum import IntEnum
from typing import Literal, get_args

Resource = Literal[
    "project",
    "member",
    "repository",
    "artifact",
    "tag",
    "artifact-label",
    "log",
    "robot",
    "label",
    "immutable-tag",
    "tag-retention",
    "webhook-policy",
    "scan",
    "quota",
]
Action = Literal["read", "list", "create", "update", "delete", "pull", "push", "stop", "operate"]
Need = tuple[Resource, Action]
"""What a request needs in a project: a resource and an action on it."""

SystemResource = Literal[
    "audit-log",
    "project",
    "user",
    "statistic",
    "catalog",
    "label",
    "configuration",
    "robot",
    "garbage-collection",
    "scanner",
    "scan-all",
    "registry",
    "replication",
]
SystemNeed = tuple[SystemResource, Action]


class Role(IntEnum):
    PROJECT_ADMIN = 1
    DEVELOPER = 2
    GUEST = 3
    MAINTAINER = 4
    LIMITED_GUEST = 5

    @property
    def label(self) -> str:
        """Harbor's role name as the API returns it (``projectAdmin``, ``developer``, ...)."""
        return _ROLE_NAMES[self]

    @classmethod
    def parse(cls, value: str | int) -> Role:
        if isinstance(value, int) or value.isdigit():
            return cls(int(value))
        key = value.replace("_", "").replace("-", "").lower()
        for role, name in _ROLE_NAMES.items():
            if name.lower() == key or role.name.replace("_", "").lower() == key:
                return role
        raise ValueError(f"unknown role {value!r}")


_ROLE_NAMES = {
    Role.PROJECT_ADMIN: "projectAdmin",
    Role.DEVELOPER: "developer",
    Role.GUEST: "guest",
    Role.MAINTAINER: "maintainer",
    Role.LIMITED_GUEST: "limitedGuest",
}


ANY_PROJECT = "*"  # a robot permission's namespace for every project, present and future


@dataclass(frozen=True)
class RobotGrant:
    """What a robot may do: exactly its permissions, by project name (or ``*``), and on the
    system. A robot is never a member of a project and never a system administrator."""

    robot_id: int
    projects: Mapping[str, frozenset[Need]]
    system: frozenset[SystemNeed] = frozenset()

    def needs_in(self, project: str) -> frozenset[Need]:
        return self.projects.get(project, frozenset()) | self.projects.get(ANY_PROJECT, frozenset())


@dataclass(frozen=True)
class Principal:
    """Who is calling: a user, a robot (``robot`` set, ``user_id`` None) or anonymous."""

    user_id: int | None
    username: str
    sysadmin: bool = False
    robot: RobotGrant | None = None

    @property
    def anonymous(self) -> bool:
        return self.user_id is None and self.robot is None

    @property
    def key(self) -> str:
        """Who this is, for caches: ``u:ID``, ``r:ID`` or ``anonymous``."""
        if self.robot is not None:
            return f"r:{self.robot.robot_id}"
        return "anonymous" if self.user_id is None else f"u:{self.user_id}"


ANONYMOUS = Principal(user_id=None, username="")


@dataclass(frozen=True)
class ProjectAccess:
    """What :func:`allowed` needs to know about a project and the caller's place in it."""

    project_id: int
    name: str
    public: bool
    role: Role | None  # the caller's role, None when not a member


PA, M, D, G, LG = (
    Role.PROJECT_ADMIN,
    Role.MAINTAINER,
    Role.DEVELOPER,
    Role.GUEST,
    Role.LIMITED_GUEST,
)
ALL = frozenset({PA, M, D, G, LG})
PMDG = frozenset({PA, M, D, G})
PMD = frozenset({PA, M, D})
PM = frozenset({PA, M})
P = frozenset({PA})

# (resource, action) -> roles allowed: Harbor's project role table.
POLICY: dict[Need, frozenset[Role]] = {
    ("project", "read"): ALL,
    ("project", "update"): P,
    ("project", "delete"): P,
    ("member", "create"): P,
    ("member", "update"): P,
    ("member", "delete"): P,
    ("member", "read"): PMDG,
    ("member", "list"): PMDG,
    ("repository", "pull"): ALL,
    ("repository", "read"): ALL,
    ("repository", "list"): ALL,
    ("repository", "push"): PMD,
    ("repository", "create"): PMD,
    ("repository", "update"): PMD,
    ("repository", "delete"): PM,
    ("artifact", "read"): ALL,
    ("artifact", "list"): ALL,
    ("artifact", "create"): PMD,
    ("artifact", "delete"): PM,
    ("tag", "list"): ALL,
    ("tag", "create"): PMD,
    ("tag", "delete"): PM,
    ("artifact-label", "create"): PMD,
    ("artifact-label", "delete"): PMD,
    ("log", "list"): P,
    ("robot", "create"): P,
    ("robot", "update"): P,
    ("robot", "delete"): P,
    ("robot", "read"): PMDG,
    ("robot", "list"): PMDG,
    ("label", "create"): PM,
    ("label", "update"): PM,
    ("label", "delete"): PM,
    ("label", "read"): PMDG,
    ("label", "list"): PMDG,
    ("immutable-tag", "create"): PM,
    ("immutable-tag", "update"): PM,
    ("immutable-tag", "delete"): PM,
    ("immutable-tag", "list"): PM,
    ("tag-retention", "create"): PMD,
    ("tag-retention", "read"): PMD,
    ("tag-retention", "update"): PMD,
    ("tag-retention", "delete"): PMD,
    ("tag-retention", "list"): PMD,
    ("tag-retention", "operate"): PMD,
    ("webhook-policy", "create"): P,
    ("webhook-policy", "update"): P,
    ("webhook-policy", "delete"): P,
    ("webhook-policy", "read"): PM,
    ("webhook-policy", "list"): PM,
    ("scan", "create"): PM,
    ("scan", "stop"): PM,
    ("scan", "read"): ALL,
    ("quota", "read"): ALL,
}

# What anyone, anonymous included, may do on a public project.
PUBLIC_READ: frozenset[Need] = frozenset(
    {
        ("project", "read"),
        ("repository", "pull"),
        ("repository", "read"),
        ("repository", "list"),
        ("artifact", "read"),
        ("artifact", "list"),
        ("tag", "list"),
        ("scan", "read"),
        ("quota", "read"),
    }
)


def allowed(
    principal: Principal,
    project: ProjectAccess | None,
    resource: Resource,
    actions: frozenset[Action],
) -> frozenset[Action]:
    """The subset of ``actions`` on ``resource`` in ``project`` the caller may perform.

    Deny by default: an unknown project, resource or action grants nothing.
    """
    if project is None:
        return frozenset()
    if principal.robot is not None:
        return _robot_allowed(principal.robot, project, resource, actions)
    granted: set[Action] = set()
    for action in actions:
        roles = POLICY.get((resource, action))
        if roles is None:
            continue
        if principal.sysadmin and not principal.anonymous:
            granted.add(action)
        elif project.public and (resource, action) in PUBLIC_READ:
            granted.add(action)
        elif project.role is not None and not principal.anonymous and project.role in roles:
            granted.add(action)
    return frozenset(granted)


def _robot_allowed(
    robot: RobotGrant, project: ProjectAccess, resource: Resource, actions: frozenset[Action]
) -> frozenset[Action]:
    """A robot: what its permissions name in the project (push implies pull, as in Harbor),
    and what anyone may do in a public project; nothing the policy does not know."""
    needs = robot.needs_in(project.name)
    if ("repository", "push") in needs:
        needs = needs | {("repository", "pull")}
    return frozenset(
        action
        for action in actions
        if (resource, action) in POLICY
        and ((resource, action) in needs or (project.public and (resource, action) in PUBLIC_READ))
    )


def can(
    principal: Principal, project: ProjectAccess | None, resource: Resource, action: Action
) -> bool:
    return action in allowed(principal, project, resource, frozenset({action}))


# The registry's actions, as they appear in token scopes, mapped onto the policy.
REGISTRY_ACTIONS: tuple[Action, ...] = ("pull", "push", "delete")


def registry_actions(principal: Principal, project: ProjectAccess | None) -> frozenset[Action]:
    """Which of pull, push, delete the caller may perform on a repository of ``project``."""
    return allowed(principal, project, "repository", frozenset(REGISTRY_ACTIONS))


# Who may do what outside any project. "signed-in": every user who logged in; "sysadmin": system
# administrators only. Anonymous callers get nothing here.
Audience = Literal["signed-in", "sysadmin"]
_CRUD: tuple[Action, ...] = ("read", "list", "create", "update", "delete")
SYSTEM_POLICY: dict[SystemNeed, Audience] = {
    ("audit-log", "list"): "sysadmin",  # others read the logs of the projects they administer
    ("project", "create"): "signed-in",
    ("project", "read"): "sysadmin",  # every project, private ones included; others see theirs
    ("project", "list"): "signed-in",
    ("user", "create"): "sysadmin",
    ("user", "read"): "sysadmin",  # anyone reads their own account: may_manage_user
    ("user", "update"): "sysadmin",
    ("user", "delete"): "sysadmin",
    ("user", "list"): "sysadmin",
    ("statistic", "read"): "sysadmin",  # totals; the visible counts are for every user
    ("catalog", "read"): "sysadmin",
    ("label", "create"): "sysadmin",
    ("label", "read"): "signed-in",
    ("label", "update"): "sysadmin",
    ("label", "delete"): "sysadmin",
    ("label", "list"): "signed-in",
    ("configuration", "read"): "sysadmin",
    ("configuration", "update"): "sysadmin",  # the system CVE allowlist
    ("robot", "create"): "sysadmin",  # system robots; project robots are the project's
    ("robot", "read"): "sysadmin",
    ("robot", "list"): "sysadmin",
    ("robot", "update"): "sysadmin",
    ("robot", "delete"): "sysadmin",
    ("garbage-collection", "read"): "sysadmin",
    ("garbage-collection", "create"): "sysadmin",  # run now, schedule
    ("garbage-collection", "stop"): "sysadmin",
    **{(system, action): "sysadmin" for system in ("scanner", "registry") for action in _CRUD},
    **{("scan-all", action): "sysadmin" for action in ("read", "create", "update", "stop")},
    **{("replication", action): "sysadmin" for action in (*_CRUD, "stop")},
}


def system_can(principal: Principal, resource: SystemResource, action: Action) -> bool:
    """Whether the caller may perform ``action`` on the system-wide ``resource``."""
    audience = SYSTEM_POLICY.get((resource, action))
    if audience is None or principal.anonymous:
        return False
    if principal.robot is not None:  # exactly its system permissions
        return (resource, action) in principal.robot.system
    return audience == "signed-in" or principal.sysadmin


def system_permissions(principal: Principal) -> list[SystemNeed]:
    """Every system permission the caller holds, in the table's order (for the UI)."""
    return [need for need in SYSTEM_POLICY if system_can(principal, *need)]


def may_manage_user(principal: Principal, user_id: int) -> bool:
    """A user reads and changes their own account; system administrators every account."""
    return not principal.anonymous and (principal.sysadmin or principal.user_id == user_id)


def may_drop_admin(principal: Principal, admins_left: int) -> bool:
    """The last ProjectAdmin of a project stays, unless a system administrator removes it.

    ``admins_left`` counts the ProjectAdmins the project keeps after the change."""
    return admins_left >= 1 or (principal.sysadmin and not principal.anonymous)


def policy_resources() -> dict[Resource, frozenset[Action]]:
    """Every resource of the project policy and the actions it knows."""
    by_resource: dict[Resource, set[Action]] = {}
    for resource, action in POLICY:
        by_resource.setdefault(resource, set()).add(action)
    return {resource: frozenset(actions) for resource, actions in by_resource.items()}


ALL_RESOURCES: tuple[Resource, ...] = get_args(Resource)
