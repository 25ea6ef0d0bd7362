"""The project use cases of :mod:`harborlite.projects.operations`, in process, against a fresh
database of each kind: their rules, their audit entries, and the last-ProjectAdmin rule holding
when two changes race (the second waits for the first's lock and then counts what it left)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.accounts import queries as accounts
from harborlite.artifacts import queries as artifacts
from harborlite.audit.events import Actor
from harborlite.auth.permissions import Principal, Role
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import AuditLog, User
from harborlite.errors import BadRequest, Conflict, Forbidden, NotFound, PreconditionFailed
from harborlite.projects import operations
from harborlite.projects import queries as projects
from tests.support.processes import PostgresServer

BY = Actor("tester")
Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sessions]:
    if request.param == "postgresql":
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'ops.db'}"
    engine = make_engine(url)
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _user(session: AsyncSession, name: str, sysadmin: bool = False) -> User:
    return await accounts.create_user(session, username=name, password_hash="x", sysadmin=sysadmin)


def _principal(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, sysadmin=user.sysadmin)


async def _audit(session: AsyncSession) -> list[tuple[str, str, str, str]]:
    rows = await session.execute(
        select(AuditLog.operation, AuditLog.resource_type, AuditLog.resource, AuditLog.detail)
        .where(AuditLog.username == BY.username)
        .order_by(AuditLog.id)
    )
    return [tuple(row) for row in rows.all()]  # type: ignore[misc]


async def _two_admins(sessions: Sessions) -> tuple[int, int, int, int, int]:
    """A project whose only ProjectAdmins are a and b: (project, a, b, a's and b's member ids)."""
    async with sessions() as session:
        a, b = await _user(session, "a"), await _user(session, "b")
        project = await operations.create_project(session, name="two", public=False, owner=a, by=BY)
        as_b = await operations.add_member(session, project, b, Role.PROJECT_ADMIN, by=BY)
        as_a = await projects.find_member(session, project.id, a.id)
        assert as_a is not None
        await session.commit()
        return project.id, a.id, b.id, as_a.id, as_b.id


async def test_create_project_checks_the_name_and_makes_the_owner_its_admin(
    sessions: Sessions,
) -> None:
    async with sessions() as session:
        owner = await _user(session, "owner")
        with pytest.raises(BadRequest, match="invalid"):
            await operations.create_project(
                session, name="Bad Name!", public=False, owner=owner, by=BY
            )
        project = await operations.create_project(
            session, name="p1", public=True, owner=owner, by=BY
        )
        assert project.public and project.project_metadata["public"] == "true"
        assert await projects.member_role(session, project.id, owner.id) == Role.PROJECT_ADMIN
        with pytest.raises(Conflict, match="project p1 already exists"):
            await operations.create_project(session, name="p1", public=False, owner=None, by=BY)
        await session.commit()
    async with sessions() as session:
        assert await _audit(session) == [("create", "project", "p1", "")]


async def test_the_loser_of_a_race_for_a_name_gets_a_conflict(sessions: Sessions) -> None:
    """The second create, past its own check while the first is not committed, waits for the
    first one; its insert then breaks the unique key: a Conflict, not an IntegrityError."""
    async with sessions() as first, sessions() as second:
        await operations.create_project(first, name="raced", public=False, owner=None, by=BY)
        racing = asyncio.create_task(
            operations.create_project(second, name="raced", public=False, owner=None, by=BY)
        )
        await asyncio.sleep(0.5)
        assert not racing.done()
        await first.commit()
        with pytest.raises(Conflict, match="project raced already exists"):
            await racing
    async with sessions() as session:
        assert await _audit(session) == [("create", "project", "raced", "")]


async def test_a_project_with_repositories_is_not_deleted(sessions: Sessions) -> None:
    async with sessions() as session:
        project = await operations.create_project(
            session, name="full", public=False, owner=None, by=BY
        )
        await artifacts.ensure_repository(session, project.id, "full/app")
        with pytest.raises(PreconditionFailed, match="contains 1 repositories"):
            await operations.delete_project(session, project, by=BY)
        empty = await operations.create_project(
            session, name="empty", public=False, owner=None, by=BY
        )
        await operations.delete_project(session, empty, by=BY)
        await session.commit()
        assert await projects.get_project_by_name(session, "empty") is None
        assert ("delete", "project", "empty", "") in await _audit(session)


async def test_members_are_added_once_and_set_by_the_cli(sessions: Sessions) -> None:
    async with sessions() as session:
        project = await operations.create_project(
            session, name="team", public=False, owner=None, by=BY
        )
        dev = await _user(session, "dev")
        await operations.add_member(session, project, dev, Role.DEVELOPER, by=BY)
        with pytest.raises(Conflict, match="dev is already a member of team"):
            await operations.add_member(session, project, dev, Role.GUEST, by=BY)
        await operations.set_member(session, project, dev, Role.MAINTAINER, by=BY)
        ops = await _user(session, "ops")
        await operations.set_member(session, project, ops, Role.GUEST, by=BY)
        assert await projects.member_role(session, project.id, dev.id) == Role.MAINTAINER
        assert await projects.member_role(session, project.id, ops.id) == Role.GUEST
        await session.commit()
        assert [entry for entry in await _audit(session) if entry[1] == "member"] == [
            ("create", "member", "team/dev", "role=developer"),
            ("update", "member", "team/dev", "role=maintainer"),
            ("create", "member", "team/ops", "role=guest"),
        ]


async def test_the_last_admin_stays_unless_a_system_administrator_removes_it(
    sessions: Sessions,
) -> None:
    project_id, a_id, _, as_a_id, as_b_id = await _two_admins(sessions)
    async with sessions() as session:
        project = await projects.get_project(session, project_id)
        a = await accounts.get_user(session, a_id)
        assert project is not None and a is not None
        as_b = await projects.get_member(session, project_id, as_b_id)
        assert as_b is not None
        await operations.change_member_role(
            session, _principal(a), project, as_b, Role.DEVELOPER, by=BY
        )
        as_a = await projects.get_member(session, project_id, as_a_id)
        assert as_a is not None
        for change in (
            operations.remove_member(session, _principal(a), project, as_a, by=BY),
            operations.change_member_role(session, _principal(a), project, as_a, Role.GUEST, by=BY),
        ):
            with pytest.raises(Forbidden, match="last project admin"):
                await change
        # promoting or changing a non-admin is never refused
        await operations.change_member_role(
            session, _principal(a), project, as_a, Role.PROJECT_ADMIN, by=BY
        )
        root = _principal(await _user(session, "root", sysadmin=True))
        await operations.remove_member(session, root, project, as_a, by=BY)
        await session.commit()
        assert await projects.count_project_admins(session, project_id) == 0


async def test_two_admins_removing_each_other_leave_one(sessions: Sessions) -> None:
    """a removes b and, at the same moment, b removes a: the second waits for the first's lock
    on the project, then finds that it would remove the last admin."""
    project_id, a_id, b_id, as_a_id, as_b_id = await _two_admins(sessions)
    async with sessions() as first, sessions() as second:
        loaded = []
        for session, actor_id, target_id in ((first, a_id, as_b_id), (second, b_id, as_a_id)):
            project = await projects.get_project(session, project_id)
            actor = await accounts.get_user(session, actor_id)
            target = await projects.get_member(session, project_id, target_id)
            assert project is not None and actor is not None and target is not None
            loaded.append((session, _principal(actor), project, target))
        # both loaded the project and the member before either changed anything
        session, principal, project, target = loaded[0]
        await operations.remove_member(session, principal, project, target, by=BY)
        session, principal, project, target = loaded[1]
        racing = asyncio.create_task(
            operations.remove_member(session, principal, project, target, by=BY)
        )
        await asyncio.sleep(0.5)
        assert not racing.done(), "the second change did not wait for the first one's lock"
        await first.commit()
        with pytest.raises(Forbidden, match="last project admin"):
            await racing
        await second.rollback()
    async with sessions() as session:
        assert await projects.count_project_admins(session, project_id) == 1


async def test_a_member_removed_meanwhile_is_not_found(sessions: Sessions) -> None:
    project_id, a_id, _, _, as_b_id = await _two_admins(sessions)
    async with sessions() as first, sessions() as second:
        project = await projects.get_project(second, project_id)
        a = await accounts.get_user(second, a_id)
        stale = await projects.get_member(second, project_id, as_b_id)
        assert project is not None and a is not None and stale is not None
        gone = await projects.get_member(first, project_id, as_b_id)
        assert gone is not None
        await first.delete(gone)
        await first.commit()
        with pytest.raises(NotFound):
            await operations.remove_member(second, _principal(a), project, stale, by=BY)


async def test_settings_are_checked_added_changed_and_removed(sessions: Sessions) -> None:
    async with sessions() as session:
        project = await operations.create_project(
            session, name="conf", public=False, owner=None, by=BY
        )
        with pytest.raises(BadRequest, match="invalid metadata name"):
            await operations.add_settings(session, project, {"colour": "red"}, by=BY)
        await operations.add_settings(session, project, {"auto_scan": True}, by=BY)
        with pytest.raises(Conflict):
            await operations.add_settings(session, project, {"auto_scan": "false"}, by=BY)
        with pytest.raises(NotFound):
            await operations.change_setting(session, project, "severity", "low", by=BY)
        await operations.change_setting(session, project, "auto_scan", "FALSE", by=BY)
        await operations.set_public(session, project, True, by=BY)
        assert operations.settings_of(project) == {"public": "true", "auto_scan": "false"}
        await operations.remove_setting(session, project, "public", by=BY)
        assert not project.public
        await session.commit()
        assert [entry[3] for entry in await _audit(session)][1:] == [
            "add {'auto_scan': 'true'}",
            "set {'auto_scan': 'false'}",
            "public=True",
            "metadata public",
        ]
