"""Checking a user name and password: the lockout (:mod:`harborlite.accounts.lockout`) in
front, the verified-credential cache in front of bcrypt, the audit entry of a failure."""

from __future__ import annotations

import asyncio
import base64
import binascii
import hashlib
import logging
from typing import TYPE_CHECKING

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts.lockout import Locked, Lockout
from harborlite.accounts.names import shown_username
from harborlite.accounts.passwords import CredentialCache, verify_password
from harborlite.accounts.queries import get_user_by_name
from harborlite.audit.events import LOGIN, AuditEvent, Origin, record
from harborlite.auth.permissions import Principal
from harborlite.db.models import User
from harborlite.errors import LockedOut

if TYPE_CHECKING:
    pass

log = logging.getLogger("harborlite.accounts")


def parse_basic(authorization: str | None) -> tuple[str, str] | None:
    """(user, password) from an ``Authorization: Basic`` header, or None."""
    if not authorization or not authorization[:6].lower() == "basic ":
        return None
    try:
        decoded = base64.b64decode(authorization[6:].strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    username, sep, password = decoded.partition(":")
    if not sep:
        return None
    return username, password


async def _verify(user: User | None, cache: CredentialCache, username: str, password: str) -> bool:
    if user is None or user.disabled:
        # spend about the same time as a real check, so names cannot be probed by timing
        await verify_password(password, _DUMMY_HASH)
        return False
    # keyed by the stored name: ``Admin`` and ``admin`` are one user, forgotten as one
    if cache.lookup(user.username, password, user.password_hash) == user.id:
        return True
    if await verify_password(password, user.password_hash):
        cache.remember(user.username, password, user.id, user.password_hash)
        return True
    return False


async def verify_credentials(
    session: AsyncSession, cache: CredentialCache, username: str, password: str
) -> User | None:
    """The enabled user with this name and password, or None (no lockout: see :func:`login`)."""
    user = await get_user_by_name(session, username)
    return user if await _verify(user, cache, username, password) else None


async def login(
    session: AsyncSession,
    credentials: CredentialCache,
    failures: Lockout,
    username: str,
    password: str,
    origin: Origin,
    *,
    via: str,
) -> User | None:
    """The user, if the name and password are right; every surface logs in through this.

    Raises :class:`~harborlite.errors.LockedOut` while the account or the client's address is
    locked out. A failure is counted and written to the audit log (committed at once, as the
    caller's request ends in a refusal), naming ``via``, the surface it came through; the
    failure that starts a lockout writes one more entry saying so. Identical attempts at the
    same moment (a CI job's parallel pulls) share one check: one hash, one count."""
    digest = hashlib.sha256(f"{username}\0{password}".encode()).digest()
    while (running := failures.flights.get(digest)) is not None:
        if await asyncio.shield(running) is False:  # this name and password just failed
            retry = await failures.locked(username.lower(), origin.client_ip)
            if retry is not None:
                raise LockedOut(retry)
            await _refused(session, username, origin, via, [])
            return None
    flight: asyncio.Future[bool | None] = asyncio.get_running_loop().create_future()
    failures.flights[digest] = flight
    outcome: bool | None = None  # None: no answer (locked out, an error): followers try anew
    try:
        user = await _login(session, credentials, failures, username, password, origin, via)
        outcome = user is not None
        return user
    finally:
        del failures.flights[digest]
        flight.set_result(outcome)


async def _login(
    session: AsyncSession,
    credentials: CredentialCache,
    failures: Lockout,
    username: str,
    password: str,
    origin: Origin,
    via: str,
) -> User | None:
    address = origin.client_ip
    account = username.lower()  # names are one case-insensitively: so are their lockouts
    user = await get_user_by_name(session, username)
    if (
        user is not None
        and not user.disabled
        and credentials.lookup(user.username, password, user.password_hash) == user.id
    ):  # verified moments ago: no hash, so no reservation, but a lockout holds
        retry = await failures.admitted(account, address)
        if retry is not None:
            raise LockedOut(retry)
        return user
    await failures.reserve(account, address)
    try:
        right = await _verify(user, credentials, username, password)
    except BaseException:
        await failures.abandoned(account, address)
        raise
    if right:
        await failures.succeeded(account, address)
        return user
    await _refused(session, username, origin, via, await failures.failed(account, address))
    return None


async def _refused(
    session: AsyncSession, username: str, origin: Origin, via: str, lockouts: list[Locked]
) -> None:
    shown = shown_username(username)
    for detail in [f"invalid username/password ({via})", *(lock.detail for lock in lockouts)]:
        record(
            session,
            AuditEvent(
                username=shown,
                operation=LOGIN,
                resource_type="user",
                resource=shown,
                origin=origin,
                success=False,
                detail=detail,
            ),
        )
    await session.commit()


def principal_of(user: User | None) -> Principal:
    if user is None:
        return Principal(user_id=None, username="")
    return Principal(user_id=user.id, username=user.username, sysadmin=user.sysadmin)


# bcrypt hash of a random string, cost 10
_DUMMY_HASH = "$2b$10$/I5MQZzVfqCJxNEsg4TWHeuuk30JdF4mvuXHa4g3etLHWTmiHAfQ2"
