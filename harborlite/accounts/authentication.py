"""Checking a user name and password, with the verified-credential cache in front of bcrypt."""

from __future__ import annotations

import asyncio
import base64
import binascii
import time

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts.passwords import CredentialCache, verify_password
from harborlite.accounts.queries import get_user_by_name
from harborlite.audit.events import LOGIN, AuditEvent, Origin, record
from harborlite.auth.permissions import Principal
from harborlite.db.models import User


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


async def verify_credentials(
    session: AsyncSession, cache: CredentialCache, username: str, password: str
) -> User | None:
    """The enabled user with this name and password, or None."""
    user = await get_user_by_name(session, username)
    if user is None:
        # spend about the same time as a real check, so names cannot be probed by timing
        await verify_password(password, _DUMMY_HASH)
        return None
    if user.disabled:
        await verify_password(password, _DUMMY_HASH)  # same time as for a wrong password
        return None
    if cache.lookup(username, password, user.password_hash) == user.id:
        return user
    if await verify_password(password, user.password_hash):
        cache.remember(username, password, user.id, user.password_hash)
        return user
    return None


async def login(
    session: AsyncSession,
    credentials: CredentialCache,
    failures: FailureLimiter,
    username: str,
    password: str,
    origin: Origin,
    *,
    via: str,
) -> User | None:
    """The user, if the name and password are right; every surface logs in through this.

    A name that failed often is slowed down first; a failure is counted and written to the
    audit log (committed at once, as the caller's request ends in a refusal), naming ``via``,
    the surface it came through."""
    await failures.delay(username)
    user = await verify_credentials(session, credentials, username, password)
    if user is None:
        failures.failed(username)
        record(
            session,
            AuditEvent(
                username=username,
                operation=LOGIN,
                resource_type="user",
                resource=username,
                origin=origin,
                success=False,
                detail=f"invalid username/password ({via})",
            ),
        )
        await session.commit()
        return None
    failures.succeeded(username)
    return user


def principal_of(user: User | None) -> Principal:
    if user is None:
        return Principal(user_id=None, username="")
    return Principal(user_id=user.id, username=user.username, sysadmin=user.sysadmin)


# bcrypt hash of a random string, cost 10
_DUMMY_HASH = "$2b$10$/I5MQZzVfqCJxNEsg4TWHeuuk30JdF4mvuXHa4g3etLHWTmiHAfQ2"


class FailureLimiter:
    """Slows down repeated failed logins for one name: each failure past 5 in 5 minutes
    costs a growing delay (up to 5 s) before the answer."""

    def __init__(self, free: int = 5, window: float = 300.0) -> None:
        self._free = free
        self._window = window
        self._failures: dict[str, list[float]] = {}

    def _recent(self, key: str) -> list[float]:
        now = time.monotonic()
        recent = [t for t in self._failures.get(key, []) if now - t < self._window]
        if recent:
            self._failures[key] = recent
        else:
            self._failures.pop(key, None)
        return recent

    async def delay(self, key: str) -> None:
        excess = len(self._recent(key)) - self._free
        if excess > 0:
            await asyncio.sleep(min(5.0, 0.25 * excess))

    def failed(self, key: str) -> None:
        if len(self._failures) > 50_000:
            # drop names whose failures are old; a flood of new names cannot reset the count
            # of a name under attack, which stays while its failures are recent
            for name in list(self._failures):
                self._recent(name)
            if len(self._failures) > 50_000:
                # the names with the fewest failures go first: one-off noise, not a target
                lightest = sorted(
                    self._failures, key=lambda n: (len(self._failures[n]), self._failures[n][-1])
                )
                for name in lightest[: len(lightest) // 2]:
                    del self._failures[name]
        self._failures.setdefault(key, []).append(time.monotonic())

    def succeeded(self, key: str) -> None:
        self._failures.pop(key, None)
