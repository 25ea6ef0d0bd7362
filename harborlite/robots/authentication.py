"""A robot logs in with its login name (the robot prefix and its stored name) and its secret,
everywhere a user can: the token service, ``/v2/`` through it, and the REST API.

A disabled or expired robot is refused as a wrong secret is. The verified-credential cache
keeps a robot's hash checks off a busy pull, as it does for users; it is keyed by the login
name, which no user name can be (the prefix holds a ``$`` or a ``+``).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts.authentication import login, principal_of
from harborlite.accounts.lockout import Lockout
from harborlite.accounts.names import shown_username
from harborlite.accounts.passwords import CredentialCache, verify_password
from harborlite.audit.events import LOGIN, Actor, Origin, record
from harborlite.auth.permissions import Principal, RobotGrant
from harborlite.db.models import Robot, User, utcnow
from harborlite.errors import LockedOut
from harborlite.robots.grants import needs_of
from harborlite.robots.secrets import verify_secret

LAST_USED_EVERY = timedelta(minutes=1)  # last use is written at most this often a robot
# a bcrypt hash (cost 10) of a random string: the same time spent on a robot that is not there
_DUMMY = "$2b$10$/I5MQZzVfqCJxNEsg4TWHeuuk30JdF4mvuXHa4g3etLHWTmiHAfQ2"


def stored_name(login_name: str, prefix: str) -> str | None:
    """The robot's stored name if ``login_name`` is a robot's (it starts with the prefix)."""
    if not login_name.startswith(prefix) or len(login_name) == len(prefix):
        return None
    return login_name[len(prefix) :]


def expired(robot: Robot, now: float | None = None) -> bool:
    return robot.expires_at != -1 and robot.expires_at <= (now or time.time())


async def robot_login(
    session: AsyncSession,
    credentials: CredentialCache,
    failures: Lockout,
    login_name: str,
    secret: str,
    origin: Origin,
    *,
    prefix: str,
    via: str,
) -> Robot | None:
    """The robot, if the name and secret are right and it is enabled and not expired.

    The lockout counts a robot's failures as a user's (raising LockedOut), and a failure is
    written to the audit log (committed at once: the caller's request ends in a refusal)."""
    address = origin.client_ip
    name = stored_name(login_name, prefix)
    robot = None
    if name is not None:
        robot = (await session.execute(select(Robot).where(Robot.name == name))).scalar()
    usable = robot is not None and not robot.disabled and not expired(robot)
    if robot is not None and usable:
        if credentials.lookup(login_name, secret, robot.secret_hash) == robot.id:
            retry = await failures.admitted(login_name, address)
            if retry is not None:
                raise LockedOut(retry)
            await _used(session, robot)
            return robot
    await failures.reserve(login_name, address)
    try:
        right = usable and robot is not None and await verify_secret(secret, robot.secret_hash)
        if not usable:
            await verify_password(secret, robot.secret_hash if robot is not None else _DUMMY)
    except BaseException:
        await failures.abandoned(login_name, address)
        raise
    if right and robot is not None:
        await failures.succeeded(login_name, address)
        credentials.remember(login_name, secret, robot.id, robot.secret_hash)
        await _used(session, robot)
        return robot
    lockouts = await failures.failed(login_name, address)
    why = "disabled" if robot is not None and robot.disabled else "invalid name or secret"
    if robot is not None and expired(robot):
        why = "expired"
    shown = login_name if robot is not None else shown_username(login_name)
    for detail in [f"{why} ({via})", *(lock.detail for lock in lockouts)]:
        record(
            session,
            Actor(shown, origin).event(LOGIN, "robot", shown, success=False, detail=detail),
        )
    await session.commit()
    return None


async def _used(session: AsyncSession, robot: Robot) -> None:
    """Remember when the robot was last used (at most once a minute: no write per pull)."""
    now = utcnow()
    if robot.last_used is None or now - robot.last_used > LAST_USED_EVERY:
        robot.last_used = now
        await session.commit()


def robot_principal(robot: Robot, prefix: str) -> Principal:
    """Who the robot is to the permission function: exactly its permissions."""
    projects, system = needs_of(robot.permissions)
    grant = RobotGrant(robot_id=robot.id, projects=projects, system=system)
    return Principal(user_id=None, username=prefix + robot.name, robot=grant)


@dataclass(frozen=True)
class SignedIn:
    """Who logged in: a user or a robot, and who they are to the permission function."""

    principal: Principal
    user: User | None = None
    robot: Robot | None = None


async def sign_in(
    session: AsyncSession,
    credentials: CredentialCache,
    failures: Lockout,
    name: str,
    secret: str,
    origin: Origin,
    *,
    prefix: str,
    via: str,
) -> SignedIn | None:
    """A user's or a robot's login (the name says which), the one way every surface that
    takes a name and a password (the token service, the REST API) checks it. Raises
    LockedOut during a lockout."""
    if stored_name(name, prefix) is not None:
        robot = await robot_login(
            session, credentials, failures, name, secret, origin, prefix=prefix, via=via
        )
        return None if robot is None else SignedIn(robot_principal(robot, prefix), robot=robot)
    user = await login(session, credentials, failures, name, secret, origin, via=via)
    return None if user is None else SignedIn(principal_of(user), user=user)
