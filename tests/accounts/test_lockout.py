"""The login lockout on a real SQLite database, through login() as every surface calls it:
parallel guesses get no more than the allowed attempts through, the right password waits for
the window too, a person's own mistakes lock their account and not their address, and what a
failed login writes never shows a password typed in the name field."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.accounts import authentication, operations
from harborlite.accounts.authentication import login
from harborlite.accounts.lockout import Lockout, address_key
from harborlite.accounts.passwords import CredentialCache
from harborlite.audit.events import CLI, Origin
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import AuditLog, User
from harborlite.errors import LockedOut, TooManyRequests

PASSWORD = "Passw0rd!x"
HERE = Origin("192.0.2.1", "test")
ELSEWHERE = Origin("198.51.100.7", "test")


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'lockout.db'}")
    try:
        await migrate(engine)
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _create(sessions: async_sessionmaker[AsyncSession], *names: str) -> None:
    async with sessions() as session:
        for name in names:
            await operations.create_user(session, username=name, password=PASSWORD, by=CLI)
        await session.commit()


async def _try(
    sessions: async_sessionmaker[AsyncSession],
    lockout: Lockout,
    username: str,
    password: str,
    origin: Origin = HERE,
    credentials: CredentialCache | None = None,
) -> str:
    """'ok', 'refused' (wrong) or 'locked' (LockedOut)."""
    async with sessions() as session:
        try:
            user = await login(
                session,
                credentials or CredentialCache(0),
                lockout,
                username,
                password,
                origin,
                via="test",
            )
        except LockedOut:
            return "locked"
    return "refused" if user is None else "ok"


async def _login_entries(sessions: async_sessionmaker[AsyncSession]) -> list[AuditLog]:
    async with sessions() as session:
        query = select(AuditLog).where(AuditLog.operation == "login").order_by(AuditLog.id)
        return list((await session.execute(query)).scalars())


async def test_forty_parallel_guesses_get_five_through(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "victim")
    clock = Clock()
    lockout = Lockout(5, 300, 20, clock=clock)
    results = await asyncio.gather(
        *(_try(sessions, lockout, "victim", f"guess-{n}") for n in range(40))
    )
    assert results.count("refused") == 5 and results.count("locked") == 35
    # the right password is refused too, until the window passes
    assert await _try(sessions, lockout, "victim", PASSWORD) == "locked"
    assert await lockout.locked("victim", HERE.client_ip) == 300
    entries = await _login_entries(sessions)
    assert [e.detail for e in entries].count("locked out for 300 s after 5 failures") == 1
    assert sum(e.detail.startswith("invalid username/password") for e in entries) == 5
    assert all(not e.success and e.username == "victim" for e in entries)
    clock.now += 299
    assert await _try(sessions, lockout, "victim", PASSWORD) == "locked"
    clock.now += 1.5
    assert await _try(sessions, lockout, "victim", PASSWORD) == "ok"


async def test_a_lockout_holds_for_names_that_do_not_exist(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    lockout = Lockout(3, 60, 100)
    results = [await _try(sessions, lockout, "nobody", f"g{n}") for n in range(5)]
    assert results == ["refused"] * 3 + ["locked"] * 2  # nothing tells it from a real one


async def test_own_mistakes_lock_the_account_not_the_address(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "clumsy", "colleague")
    lockout = Lockout(5, 300, 20)
    for n in range(5):
        assert await _try(sessions, lockout, "clumsy", f"typo{n}") == "refused"
    assert await _try(sessions, lockout, "clumsy", PASSWORD) == "locked"
    # another account from the same address is not locked out
    assert await _try(sessions, lockout, "colleague", PASSWORD) == "ok"
    assert await lockout.locked("colleague", HERE.client_ip) is None


async def test_spraying_from_one_address_locks_the_address(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    names = [f"member{n}" for n in range(8)]
    await _create(sessions, *names)
    lockout = Lockout(5, 300, 20)
    outcomes = [
        await _try(sessions, lockout, name, f"Summer202{n}") for n in range(3) for name in names
    ]
    assert outcomes.count("refused") == 20 and outcomes.count("locked") == 4
    # every account, the right password too, is refused from that address, not from another
    assert await _try(sessions, lockout, "member0", PASSWORD) == "locked"
    assert await _try(sessions, lockout, "member0", PASSWORD, ELSEWHERE) == "ok"
    details = [e.detail for e in await _login_entries(sessions)]
    assert details.count("address 192.0.2.1 locked out for 300 s after 20 failures") == 1


async def test_a_success_forgives_its_own_address_only(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "forgetful")
    lockout = Lockout(5, 300, 20)
    for n in range(2):
        assert await _try(sessions, lockout, "forgetful", f"typo{n}", ELSEWHERE) == "refused"
    for n in range(2):
        assert await _try(sessions, lockout, "forgetful", f"typo{n}") == "refused"
    assert await _try(sessions, lockout, "forgetful", PASSWORD) == "ok"  # forgives HERE's 2
    for n in range(3):
        assert await _try(sessions, lockout, "forgetful", f"again{n}") == "refused"
    # 2 from elsewhere + 3 from here: locked; the 2 from elsewhere were never forgiven
    assert await _try(sessions, lockout, "forgetful", PASSWORD) == "locked"


async def test_a_verified_password_from_the_cache_waits_for_the_lockout_too(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "cached")
    credentials = CredentialCache(300)
    lockout = Lockout(5, 300, 20)
    assert await _try(sessions, lockout, "cached", PASSWORD, credentials=credentials) == "ok"
    for n in range(5):
        assert await _try(sessions, lockout, "cached", f"g{n}", ELSEWHERE) == "refused"
    assert await _try(sessions, lockout, "cached", PASSWORD, credentials=credentials) == "locked"
    assert await lockout.admitted("cached", HERE.client_ip) == 300


async def test_identical_parallel_logins_share_one_check(
    sessions: async_sessionmaker[AsyncSession], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A CI job's 20 parallel pulls with a cold cache: all succeed, one hash; 20 identical
    wrong attempts count as one failure."""
    await _create(sessions, "ci")
    hashes = []
    real = authentication.verify_password

    async def counted(password: str, password_hash: str) -> bool:
        hashes.append(password)
        return await real(password, password_hash)

    monkeypatch.setattr(authentication, "verify_password", counted)
    lockout = Lockout(5, 300, 20)
    credentials = CredentialCache(300)
    results = await asyncio.gather(
        *(_try(sessions, lockout, "ci", PASSWORD, credentials=credentials) for _ in range(20))
    )
    assert results == ["ok"] * 20 and len(hashes) == 1
    results = await asyncio.gather(*(_try(sessions, lockout, "ci", "Wrong1234") for _ in range(20)))
    assert results == ["refused"] * 20 and len(hashes) == 2
    for n in range(4):  # the identical ones counted once: 4 more to the lockout
        assert await _try(sessions, lockout, "ci", f"other{n}") == "refused"
    assert await _try(sessions, lockout, "ci", "other-5") == "locked"


async def test_a_disabled_user_fails_as_a_wrong_password_and_counts(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _create(sessions, "gone")
    async with sessions() as session:
        user = (await session.execute(select(User).where(User.username == "gone"))).scalar_one()
        await operations.set_disabled(
            session, user, True, principal=None, by=CLI, credentials=CredentialCache(0)
        )
        await session.commit()
    lockout = Lockout(2, 300, 20)
    assert await _try(sessions, lockout, "gone", PASSWORD) == "refused"
    assert await _try(sessions, lockout, "gone", "wrong") == "refused"
    assert await _try(sessions, lockout, "gone", PASSWORD) == "locked"


async def test_a_name_that_is_not_a_user_name_is_not_written(
    sessions: async_sessionmaker[AsyncSession], caplog: pytest.LogCaptureFixture
) -> None:
    lockout = Lockout(1, 300, 20)
    with caplog.at_level(logging.INFO):
        assert await _try(sessions, lockout, "Tr0ub4dor&3 x", "admin") == "refused"
        assert await _try(sessions, lockout, "Tr0ub4dor&3 x", "admin") == "locked"
    entries = await _login_entries(sessions)
    assert {e.username for e in entries} == {"(not a user name, 13 characters)"}
    assert {e.resource for e in entries} == {"(not a user name, 13 characters)"}
    assert "Tr0ub4dor" not in caplog.text
    assert "(not a user name, 13 characters)" in caplog.text


async def test_locked_out_is_a_429_with_retry_after() -> None:
    error = LockedOut(61)
    assert isinstance(error, TooManyRequests)
    assert (error.status, error.code, error.retry_after, error.minutes) == (
        429,
        "TOO_MANY_REQUESTS",
        61,
        2,
    )
    assert error.message == "too many failed logins: try again in 2 minutes"
    assert LockedOut(0).retry_after == 1 and LockedOut(30).message.endswith("in 1 minute")


async def test_an_attempt_that_got_no_answer_does_not_count() -> None:
    lockout = Lockout(2, 300, 20)
    for _ in range(5):
        await lockout.reserve("x", "192.0.2.1")
        await lockout.abandoned("x", "192.0.2.1")
    await lockout.reserve("x", "192.0.2.1")
    await lockout.reserve("x", "192.0.2.1")  # two in flight: the limit
    with pytest.raises(LockedOut):
        await lockout.reserve("x", "192.0.2.1")
    assert await lockout.failed("x", "192.0.2.1") == []
    [lock] = await lockout.failed("x", "192.0.2.1")
    assert (lock.address, lock.failures, lock.seconds) == (None, 2, 300)


async def test_memory_is_bounded_and_keeps_the_target() -> None:
    lockout = Lockout(5, 300, 10**9, max_entries=1000)
    for _ in range(5):
        await lockout.reserve("target", "203.0.113.9")
        await lockout.failed("target", "203.0.113.9")
    for n in range(5000):
        await lockout.reserve(f"noise{n}", "203.0.113.9")
        await lockout.failed(f"noise{n}", "203.0.113.9")
    assert len(lockout._tallies) <= 1000 and len(lockout._pairs) <= 1000
    assert await lockout.locked("target", "192.0.2.200") is not None


def test_an_ipv6_host_counts_as_its_64() -> None:
    assert address_key("2001:db8:1:2:aaaa::1") == address_key("2001:db8:1:2:ffff::9")
    assert address_key("2001:db8:1:2::1") != address_key("2001:db8:1:3::1")
    assert address_key("::ffff:192.0.2.1") == "192.0.2.1"
    assert address_key("") == ""
