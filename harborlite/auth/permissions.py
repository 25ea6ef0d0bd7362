"""Harbor's role model, and the one function that decides what a caller may do.

The token service, the ``/v2/`` proxy, the REST API and the portal all call :func:`allowed`.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import IntEnum


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


@dataclass(frozen=True)
class Principal:
    """Who is calling. ``user_id is None`` means anonymous."""

    user_id: int | None
    username: str
    sysadmin: bool = False

    @property
    def anonymous(self) -> bool:
        return self.user_id is None

    @property
    def display_name(self) -> str:
        return self.username or "anonymous"


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

# (resource, action) -> roles allowed; ARCHITECTURE.md "Roles and permissions".
POLICY: dict[tuple[str, str], frozenset[Role]] = {
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
PUBLIC_READ: frozenset[tuple[str, str]] = frozenset(
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
    principal: Principal, project: ProjectAccess | None, resource: str, actions: frozenset[str]
) -> frozenset[str]:
    """The subset of ``actions`` on ``resource`` in ``project`` the caller may perform.

    Deny by default: an unknown project, resource or action grants nothing.
    """
    if project is None:
        return frozenset()
    granted: set[str] = set()
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


def can(principal: Principal, project: ProjectAccess | None, resource: str, action: str) -> bool:
    return action in allowed(principal, project, resource, frozenset({action}))


# The registry's actions, as they appear in token scopes, mapped onto the policy.
REGISTRY_ACTIONS = ("pull", "push", "delete")


def registry_actions(principal: Principal, project: ProjectAccess | None) -> frozenset[str]:
    """Which of pull, push, delete the caller may perform on a repository of ``project``."""
    return allowed(principal, project, "repository", frozenset(REGISTRY_ACTIONS))
