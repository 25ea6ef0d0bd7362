"""The account operations on a real SQLite database: the rules every surface (the CLI too) gets."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.accounts import operations
from harborlite.accounts.authentication import verify_credentials
from harborlite.accounts.passwords import CredentialCache
from harborlite.accounts.queries import get_user_by_name
from harborlite.audit.events import CLI, Actor
from harborlite.auth.permissions import Principal
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import AuditLog, User
from harborlite.errors import BadRequest, Conflict, Forbidden

PASSWORD = "Passw0rd!x"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'accounts.db'}")
    try:
        await migrate(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _create(
    sessions: async_sessionmaker[AsyncSession],
    username: str,
    *,
    email: str = "",
    sysadmin: bool = False,
) -> User:
    async with sessions() as session:
        user = await operations.create_user(
            session, username=username, password=PASSWORD, email=email, sysadmin=sysadmin, by=CLI
        )
        await session.commit()
        return user


async def _logs(sessions: async_sessionmaker[AsyncSession]) -> list[AuditLog]:
    async with sessions() as session:
        return list((await session.execute(select(AuditLog).order_by(AuditLog.id))).scalars())


async def _user_names(sessions: async_sessionmaker[AsyncSession]) -> list[str]:
    async with sessions() as session:
        return list((await session.execute(select(User.username))).scalars())


async def test_create_user_refuses_a_bad_name(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """What ``harborlite user create 'bad name!'`` calls: refused, nothing written."""
    for name in ("bad name!", "", "-dash-first", "x" * 256):
        async with sessions() as session:
            with pytest.raises(BadRequest, match="username must be 1 to 255 letters"):
                await operations.create_user(session, username=name, password=PASSWORD, by=CLI)
    assert await _user_names(sessions) == []
    assert await _logs(sessions) == []


async def test_create_user_refuses_a_weak_password_and_a_bad_email(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    async with sessions() as session:
        with pytest.raises(BadRequest, match="at least 8 characters"):
            await operations.create_user(session, username="weak", password="short", by=CLI)
        with pytest.raises(BadRequest, match="one upper case letter"):
            await operations.create_user(session, username="weak", password="password1", by=CLI)
        with pytest.raises(BadRequest, match="not a valid address"):
            await operations.create_user(
                session, username="mail", password=PASSWORD, email="nowhere", by=CLI
            )
    assert await _user_names(sessions) == []


async def test_create_user_writes_the_user_and_its_audit_entry(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    user = await _create(sessions, "alice", email="alice@example.com", sysadmin=True)
    assert user.id is not None and user.sysadmin and user.email == "alice@example.com"
    async with sessions() as session:
        found = await verify_credentials(session, CredentialCache(60), "alice", PASSWORD)
    assert found is not None and found.id == user.id
    [entry] = await _logs(sessions)
    assert (entry.username, entry.operation, entry.resource_type, entry.resource) == (
        "cli",
        "create",
        "user",
        "alice",
    )
    assert entry.success


async def test_create_user_refuses_a_taken_name_or_email(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "bob", email="bob@example.com")
    async with sessions() as session:
        with pytest.raises(Conflict, match=r"^user bob already exists$"):
            await operations.create_user(session, username="bob", password=PASSWORD, by=CLI)
        with pytest.raises(Conflict, match=r"bob@example\.com is already used"):
            await operations.create_user(
                session, username="bobby", password=PASSWORD, email="bob@example.com", by=CLI
            )
    assert await _user_names(sessions) == ["bob"]
    assert len(await _logs(sessions)) == 1


async def test_a_concurrent_create_of_one_name_is_a_conflict(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    """The second caller checked before the first committed: the unique key decides, and the
    loser gets the same Conflict as a later caller, not the database's IntegrityError."""
    first = sessions()
    try:
        await operations.create_user(first, username="carol", password=PASSWORD, by=CLI)

        async def second() -> None:
            async with sessions() as session:
                await operations.create_user(session, username="carol", password=PASSWORD, by=CLI)
                await session.commit()

        racing = asyncio.create_task(second())
        await asyncio.sleep(0.5)  # the second has checked (nothing committed) and waits to write
        await first.commit()
        with pytest.raises(Conflict, match=r"^user carol already exists$"):
            await racing
    finally:
        await first.close()
    assert await _user_names(sessions) == ["carol"]
    assert [entry.resource for entry in await _logs(sessions)] == ["carol"]


def _principal(user: User) -> Principal:
    return Principal(user_id=user.id, username=user.username, sysadmin=user.sysadmin)


async def test_nobody_deletes_themselves_or_drops_their_own_admin_rights(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    admin = await _create(sessions, "root", sysadmin=True)
    other = await _create(sessions, "other")
    credentials = CredentialCache(60)
    me, by = _principal(admin), Actor("root")
    async with sessions() as session:
        admin_row = await get_user_by_name(session, "root")
        assert admin_row is not None
        with pytest.raises(Forbidden, match="cannot delete yourself"):
            await operations.delete_user(
                session, admin_row, principal=me, by=by, credentials=credentials
            )
        with pytest.raises(Forbidden, match="your own administrator rights"):
            await operations.set_sysadmin(
                session, admin_row, False, principal=me, by=by, credentials=credentials
            )
        other_row = await get_user_by_name(session, "other")
        assert other_row is not None
        credentials.remember("other", PASSWORD, other.id, other_row.password_hash)
        await operations.set_sysadmin(
            session, other_row, True, principal=me, by=by, credentials=credentials
        )
        assert credentials.lookup("other", PASSWORD, other_row.password_hash) is None
        await operations.delete_user(
            session, other_row, principal=me, by=by, credentials=credentials
        )
        await session.commit()
    assert await _user_names(sessions) == ["root"]
    details = [(e.username, e.operation, e.detail) for e in await _logs(sessions)][2:]
    assert details == [("root", "update", "sysadmin=True"), ("root", "delete", "")]


async def test_set_password_rules(sessions: async_sessionmaker[AsyncSession]) -> None:
    dave = await _create(sessions, "dave")
    admin = await _create(sessions, "root", sysadmin=True)
    credentials = CredentialCache(60)
    async with sessions() as session:
        row = await get_user_by_name(session, "dave")
        assert row is not None

        async def own_change(new: str, old: str | None) -> None:
            assert row is not None
            await operations.set_password(
                session,
                row,
                new,
                old_password=old,
                principal=_principal(dave),
                by=Actor("dave"),
                credentials=credentials,
            )

        with pytest.raises(BadRequest, match="old password is required"):
            await own_change("N3wPassword", None)
        with pytest.raises(Forbidden, match="old password is wrong"):
            await own_change("N3wPassword", "wrong")
        with pytest.raises(BadRequest, match="must differ"):
            await own_change(PASSWORD, PASSWORD)
        with pytest.raises(BadRequest, match="at least 8"):
            await own_change("short", PASSWORD)
        await own_change("N3wPassword", PASSWORD)
        # an administrator resets another user's password without the old one
        await operations.set_password(
            session,
            row,
            "Res3tPassword",
            principal=_principal(admin),
            by=Actor("root"),
            credentials=credentials,
        )
        await session.commit()
    async with sessions() as session:
        assert await verify_credentials(session, credentials, "dave", "Res3tPassword")
    details = [(e.username, e.detail) for e in await _logs(sessions)][2:]
    assert details == [("dave", "password changed"), ("root", "password reset")]


async def test_update_profile_checks_the_email(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "erin", email="erin@example.com")
    await _create(sessions, "fred")
    async with sessions() as session:
        fred = await get_user_by_name(session, "fred")
        assert fred is not None
        with pytest.raises(Conflict, match=r"erin@example\.com is already used"):
            await operations.update_profile(
                session, fred, email="erin@example.com", by=Actor("fred")
            )
        with pytest.raises(BadRequest, match="not a valid address"):
            await operations.update_profile(session, fred, email="fred", by=Actor("fred"))
        await operations.update_profile(
            session, fred, email="fred@example.com", realname="Fred", by=Actor("fred")
        )
        await session.commit()
    async with sessions() as session:
        fred = await get_user_by_name(session, "fred")
        assert fred is not None and (fred.email, fred.realname) == ("fred@example.com", "Fred")
