"""The one permission function, as a table: Harbor's roles on public and private projects."""

from __future__ import annotations

import pytest

from harborlite.auth.permissions import (
    ANONYMOUS,
    ANY_PROJECT,
    Principal,
    ProjectAccess,
    RobotGrant,
    Role,
    allowed,
    can,
    registry_actions,
    system_can,
)

ADMIN = Principal(1, "admin", sysadmin=True)
USER = Principal(2, "alice")
PA, M, D, G, LG = (
    Role.PROJECT_ADMIN,
    Role.MAINTAINER,
    Role.DEVELOPER,
    Role.GUEST,
    Role.LIMITED_GUEST,
)


def project(role: Role | None, public: bool = False) -> ProjectAccess:
    return ProjectAccess(project_id=7, name="p", public=public, role=role)


# (who, role, public) -> registry actions granted
REGISTRY_CASES = [
    (ADMIN, None, False, {"pull", "push", "delete"}),
    (USER, PA, False, {"pull", "push", "delete"}),
    (USER, M, False, {"pull", "push", "delete"}),
    (USER, D, False, {"pull", "push"}),
    (USER, G, False, {"pull"}),
    (USER, LG, False, {"pull"}),
    (USER, None, False, set()),
    (USER, None, True, {"pull"}),
    (USER, D, True, {"pull", "push"}),
    (ANONYMOUS, None, False, set()),
    (ANONYMOUS, None, True, {"pull"}),
    # a role recorded for an anonymous principal never counts
    (ANONYMOUS, PA, False, set()),
]


@pytest.mark.parametrize(("who", "role", "public", "expected"), REGISTRY_CASES)
def test_registry_actions(
    who: Principal, role: Role | None, public: bool, expected: set[str]
) -> None:
    assert registry_actions(who, project(role, public)) == expected


def test_unknown_project_grants_nothing() -> None:
    assert registry_actions(ADMIN, None) == frozenset()


# (resource, action) -> which of PA M D G LG may; ARCHITECTURE.md's table
TABLE = {
    ("project", "read"): {PA, M, D, G, LG},
    ("project", "update"): {PA},
    ("project", "delete"): {PA},
    ("member", "create"): {PA},
    ("member", "list"): {PA, M, D, G},
    ("repository", "push"): {PA, M, D},
    ("repository", "delete"): {PA, M},
    ("artifact", "delete"): {PA, M},
    ("tag", "create"): {PA, M, D},
    ("tag", "delete"): {PA, M},
    ("artifact-label", "create"): {PA, M, D},
    ("artifact-label", "delete"): {PA, M, D},
    ("label", "update"): {PA, M},
    ("label", "delete"): {PA, M},
    ("label", "read"): {PA, M, D, G},
    ("label", "list"): {PA, M, D, G},
    ("log", "list"): {PA},
    ("robot", "read"): {PA, M, D, G},
    ("label", "create"): {PA, M},
    ("immutable-tag", "list"): {PA, M},
    ("tag-retention", "operate"): {PA, M, D},
    ("webhook-policy", "read"): {PA, M},
    ("scan", "create"): {PA, M},
    ("scan", "read"): {PA, M, D, G, LG},
    ("quota", "read"): {PA, M, D, G, LG},
}


@pytest.mark.parametrize(("resource", "action"), sorted(TABLE))
@pytest.mark.parametrize("role", list(Role))
def test_role_table(resource: str, action: str, role: Role) -> None:
    assert can(USER, project(role), resource, action) == (role in TABLE[(resource, action)])
    assert can(ADMIN, project(None), resource, action)
    assert not can(USER, project(None), resource, action)


def test_public_project_reads_only() -> None:
    public = project(None, public=True)
    assert can(ANONYMOUS, public, "repository", "pull")
    assert can(ANONYMOUS, public, "artifact", "list")
    assert not can(ANONYMOUS, public, "repository", "push")
    assert not can(ANONYMOUS, public, "member", "list")
    assert not can(USER, public, "log", "list")


def test_unknown_action_or_resource_is_denied() -> None:
    assert allowed(ADMIN, project(PA), "repository", frozenset({"fly"})) == frozenset()
    assert allowed(USER, project(PA), "nonsense", frozenset({"read"})) == frozenset()


@pytest.mark.parametrize(
    ("text", "role"),
    [
        ("projectAdmin", PA),
        ("maintainer", M),
        ("developer", D),
        ("guest", G),
        ("limitedGuest", LG),
        ("limited_guest", LG),
        ("2", D),
        ("PROJECT_ADMIN", PA),
    ],
)
def test_role_parse(text: str, role: Role) -> None:
    assert Role.parse(text) == role


def test_role_parse_refuses_unknown() -> None:
    with pytest.raises(ValueError):
        Role.parse("owner")


def test_a_robot_may_do_exactly_what_its_permissions_name() -> None:
    grant = RobotGrant(
        robot_id=7,
        projects={"team": frozenset({("repository", "push"), ("artifact", "read")})},
        system=frozenset({("project", "create")}),
    )
    robot = Principal(user_id=None, username="robot$ci", robot=grant)
    assert not robot.anonymous and robot.key == "r:7"
    team = ProjectAccess(project_id=1, name="team", public=False, role=None)
    other = ProjectAccess(project_id=2, name="other", public=False, role=None)
    public = ProjectAccess(project_id=3, name="open", public=True, role=None)
    # push implies pull, as in Harbor; nothing it was not given
    assert registry_actions(robot, team) == {"pull", "push"}
    assert can(robot, team, "artifact", "read")
    assert not can(robot, team, "artifact", "delete")
    assert not can(robot, team, "member", "create")
    assert registry_actions(robot, other) == frozenset()
    assert registry_actions(robot, public) == {"pull"}  # what anyone may
    assert system_can(robot, "project", "create")
    assert not system_can(robot, "project", "list")  # signed-in users may; this robot may not
    assert not system_can(robot, "user", "list")
    everywhere = RobotGrant(robot_id=8, projects={ANY_PROJECT: frozenset({("repository", "pull")})})
    fleet = Principal(user_id=None, username="robot$fleet", robot=everywhere)
    assert registry_actions(fleet, other) == {"pull"}
