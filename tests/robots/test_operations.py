"""The robot use cases in process, on SQLite: what each change revokes and audits, what a
creator may grant (a user, a robot), and the ProjectAdmin rights of a project a robot made."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.accounts import queries as accounts
from harborlite.audit.events import Actor
from harborlite.auth.permissions import POLICY, Principal, RobotGrant, Role, can
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import AuditLog, Revocation, Robot, User
from harborlite.errors import BadRequest, Conflict, Forbidden, NotFound, Unauthorized
from harborlite.projects import operations as project_operations
from harborlite.projects import queries as projects
from harborlite.robots import operations
from harborlite.robots.grants import needs_of
from harborlite.robots.secrets import verify_secret

BY = Actor("tester")
PREFIX = "robot$"
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[Sessions]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'robots.db'}")
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


def _access(namespace: str, *pairs: tuple[str, str]) -> list[dict[str, Any]]:
    return [
        {
            "kind": "project",
            "namespace": namespace,
            "access": [{"resource": r, "action": a} for r, a in pairs],
        }
    ]


async def _user(session: AsyncSession, name: str, sysadmin: bool = False) -> Principal:
    user: User = await accounts.create_user(
        session, username=name, password_hash="x", sysadmin=sysadmin
    )
    return Principal(user_id=user.id, username=name, sysadmin=sysadmin)


async def _create(
    session: AsyncSession, principal: Principal, name: str, level: str, perms: Any, days: int = -1
) -> tuple[Robot, str]:
    return await operations.create_robot(
        session,
        principal,
        name=name,
        description="",
        level=level,
        duration=days,
        disable=False,
        permissions=perms,
        prefix=PREFIX,
        by=BY,
    )


async def _revoked(session: AsyncSession) -> list[tuple[str, str]]:
    rows = await session.execute(select(Revocation.kind, Revocation.name).order_by(Revocation.id))
    return [(kind, name) for kind, name in rows.all()]


async def _details(session: AsyncSession) -> list[tuple[str, str, str]]:
    rows = await session.execute(
        select(AuditLog.operation, AuditLog.resource, AuditLog.detail)
        .where(AuditLog.resource_type == "robot")
        .order_by(AuditLog.id)
    )
    return [(op, resource, detail) for op, resource, detail in rows.all()]


async def test_each_change_that_takes_a_right_away_revokes_and_every_change_is_audited(
    sessions: Sessions,
) -> None:
    pull_push = _access("lib", ("repository", "pull"), ("repository", "push"))
    async with sessions() as session:
        admin = await _user(session, "boss", sysadmin=True)
        owner = await project_operations.create_project(
            session, name="lib", public=False, owner=None, by=BY
        )
        robot, secret = await _create(session, admin, "ci", "project", pull_push, days=30)
        assert robot.name == "lib+ci" and robot.project_id == owner.id
        assert await verify_secret(secret, robot.secret_hash)
        assert robot.creator_type == "local" and robot.creator_ref == admin.user_id
        login = "robot$lib+ci"
        assert await _revoked(session) == []

        async def update(**changes: Any) -> list[tuple[str, str]]:
            before = len(await _revoked(session))
            await operations.update_robot(session, admin, robot, prefix=PREFIX, by=BY, **changes)
            return (await _revoked(session))[before:]

        assert await update(description="d") == []
        assert await update(duration=60) == []  # longer: nothing taken away
        assert await update(duration=-1) == []
        assert await update(duration=10) == [("robot", login)]  # never -> 10 days
        assert await update(permissions=[*pull_push]) == []  # the same
        wider = _access("lib", ("repository", "pull"), ("repository", "push"), ("tag", "create"))
        assert await update(permissions=wider) == []
        assert await update(permissions=pull_push) == [("robot", login)]
        assert await update(disable=True) == [("robot", login)]
        assert await update(disable=False) == []
        with pytest.raises(BadRequest, match="cannot update the level or name"):
            await update(name="other")
        with pytest.raises(BadRequest, match="cannot update the level or name"):
            await update(level="system")
        for same in ("ci", "lib+ci", login):
            assert await update(name=same, level="project") == []
        await project_operations.create_project(
            session, name="other", public=False, owner=None, by=BY
        )
        with pytest.raises(BadRequest, match="cannot update the project id"):
            await update(permissions=_access("other", ("repository", "pull")))

        new = await operations.refresh_secret(session, admin, robot, "", prefix=PREFIX, by=BY)
        assert len(new) == 32 and new != secret and await verify_secret(new, robot.secret_hash)
        assert (await _revoked(session))[-1] == ("robot", login)
        with pytest.raises(BadRequest, match="the secret must be 8-128"):
            await operations.refresh_secret(session, admin, robot, "short", prefix=PREFIX, by=BY)
        chosen = await operations.refresh_secret(
            session, admin, robot, "Chosen5ecret", prefix=PREFIX, by=BY
        )
        assert chosen == "" and await verify_secret("Chosen5ecret", robot.secret_hash)
        count = len(await _revoked(session))
        await operations.delete_robot(session, admin, robot, prefix=PREFIX, by=BY)
        assert len(await _revoked(session)) == count + 1
        assert (await _revoked(session))[-1] == ("robot", login)
        assert await session.get(Robot, robot.id) is None
        assert [d[0] for d in await _details(session)][-1] == "delete"
        details = [detail for _, _, detail in await _details(session)]
        assert details[0] == "level project, 30 days"
        assert "description changed" in details and "disabled" in details
        assert "enabled" in details and "permissions changed" in details
        assert "duration -1 -> 10 days" in details
        assert details.count("secret refreshed") == 2
        assert {resource for _, resource, _ in await _details(session)} == {login}


async def test_a_user_grants_no_more_than_their_own_rights(sessions: Sessions) -> None:
    async with sessions() as session:
        admin = await _user(session, "root", sysadmin=True)
        alice = await _user(session, "alice")
        dev = await _user(session, "dev")
        mine = await project_operations.create_project(
            session, name="mine", public=False, owner=None, by=BY
        )
        alice_row = await accounts.get_user(session, alice.user_id or 0)
        dev_row = await accounts.get_user(session, dev.user_id or 0)
        assert alice_row is not None and dev_row is not None
        await project_operations.add_member(session, mine, alice_row, Role.PROJECT_ADMIN, by=BY)
        await project_operations.add_member(session, mine, dev_row, Role.DEVELOPER, by=BY)
        pull = _access("mine", ("repository", "pull"))
        robot, _ = await _create(session, alice, "ok", "project", pull)
        assert robot.name == "mine+ok"
        with pytest.raises(Forbidden, match="dev is not allowed to create robot"):
            await _create(session, dev, "no", "project", pull)
        with pytest.raises(Forbidden, match="system robot"):
            await _create(session, alice, "sys", "system", pull)
        with pytest.raises(NotFound, match="project nosuch not found"):
            await _create(session, alice, "x", "project", _access("nosuch", ("repository", "pull")))
        with pytest.raises(NotFound, match="project nosuch not found"):
            await _create(session, admin, "x", "system", _access("nosuch", ("repository", "pull")))
        with pytest.raises(Unauthorized):
            await _create(session, Principal(user_id=None, username=""), "x", "project", pull)
        with pytest.raises(Conflict, match=r"robot robot\$mine\+ok already exists"):
            await _create(session, admin, "ok", "project", pull)
        everywhere = _access("*", ("repository", "pull"))
        robot, _ = await _create(session, admin, "all", "system", everywhere)
        assert robot.name == "all" and robot.project_id is None
        with pytest.raises(Forbidden, match="dev is not allowed to update system robot"):
            await operations.update_robot(session, dev, robot, prefix=PREFIX, by=BY, disable=True)


async def test_a_robot_grants_only_a_subset_of_its_own_permissions(sessions: Sessions) -> None:
    async with sessions() as session:
        admin = await _user(session, "chief", sysadmin=True)
        await project_operations.create_project(session, name="lib", public=True, owner=None, by=BY)
        maker_perms = _access(
            "lib", ("robot", "create"), ("repository", "pull"), ("repository", "push")
        )
        maker_row, _ = await _create(session, admin, "maker", "project", maker_perms)
        projects_needs, system_needs = needs_of(maker_row.permissions)
        maker = Principal(
            user_id=None,
            username="robot$lib+maker",
            robot=RobotGrant(maker_row.id, projects_needs, system_needs),
        )
        child, _ = await _create(
            session, maker, "child", "project", _access("lib", ("repository", "pull"))
        )
        assert child.creator_type == "robot" and child.creator_ref == maker_row.id
        for wider in (
            _access("lib", ("repository", "delete")),
            _access("lib", ("artifact", "read")),  # public read is not the robot's to give
        ):
            with pytest.raises(Forbidden) as refused:
                await _create(session, maker, "wider", "project", wider)
            assert refused.value.message == (
                "permission scope is invalid. It must be equal to or more restrictive than the "
                "creator robot's permissions: robot$lib+maker"
            )
        with pytest.raises(Forbidden, match="system robot"):
            await _create(session, maker, "sys", "system", _access("lib", ("repository", "pull")))


async def test_a_robot_that_creates_a_project_gets_project_admins_rights_on_it(
    sessions: Sessions,
) -> None:
    system = [
        {
            "kind": "system",
            "namespace": "/",
            "access": [{"resource": "project", "action": "create"}],
        }
    ]
    async with sessions() as session:
        admin = await _user(session, "head", sysadmin=True)
        robot, _ = await _create(session, admin, "builder", "system", system)
        await project_operations.create_project(
            session, name="made", public=False, owner=None, by=BY
        )
        await operations.grant_created_project(session, robot.id, "made")
        await operations.grant_created_project(session, robot.id, "made")  # idempotent
        by_project, system_needs = needs_of(robot.permissions)
        admin_needs = {need for need, roles in POLICY.items() if Role.PROJECT_ADMIN in roles}
        assert by_project == {"made": frozenset(admin_needs)}
        assert system_needs == {("project", "create")}
        assert len(robot.permissions) == 2
        await session.commit()
    async with sessions() as session:
        stored = await session.get(Robot, robot.id)
        assert stored is not None and len(stored.permissions) == 2  # the JSON was written
        made = await projects.get_project_by_name(session, "made")
        assert made is not None
        grant = RobotGrant(robot.id, *needs_of(stored.permissions))
        principal = Principal(user_id=None, username="robot$builder", robot=grant)
        access = await projects.project_access(session, principal, made)
        assert can(principal, access, "member", "create")
        assert can(principal, access, "repository", "delete")
        with pytest.raises(NotFound):
            await operations.grant_created_project(session, 999999, "made")
