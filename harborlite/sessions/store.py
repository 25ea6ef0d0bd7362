"""Server-side login sessions: create, resolve (with idle expiry), end.

The browser holds a random token in an HttpOnly cookie; the table holds only its SHA-256, the
user and the session's CSRF token. Logging out deletes the row, so a copied cookie dies with it.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts.passwords import password_stamp
from harborlite.auth.permissions import Principal
from harborlite.db.models import User, utcnow
from harborlite.sessions.models import PortalSession

SESSION_COOKIE = "harborlite_session"
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class SignedIn:
    """A live session, as pages and the middleware see it."""

    session_id: int
    user_id: int
    username: str
    sysadmin: bool
    csrf_token: str

    @property
    def principal(self) -> Principal:
        return Principal(user_id=self.user_id, username=self.username, sysadmin=self.sysadmin)


def new_token() -> str:
    return secrets.token_urlsafe(32)


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


async def start_session(
    session: AsyncSession, user: User, *, client_ip: str, user_agent: str
) -> tuple[str, SignedIn]:
    """A new session for ``user``; returns the cookie token (shown only here) and the session."""
    token = new_token()
    now = utcnow()
    row = PortalSession(
        token_hash=token_hash(token),
        user_id=user.id,
        csrf_token=new_token(),
        created=now,
        last_seen=now,
        client_ip=client_ip[:64],
        user_agent=user_agent[:512],
        password_stamp=password_stamp(user.password_hash),
    )
    session.add(row)
    await session.flush()
    return token, SignedIn(row.id, user.id, user.username, user.sysadmin, row.csrf_token)


async def resolve_session(
    session: AsyncSession,
    token: str,
    *,
    idle: timedelta,
    lifetime: timedelta,
    now: datetime | None = None,
) -> SignedIn | None:
    """The live session of ``token``, refreshing its idle clock; None when unknown or expired.

    An expired session is deleted on sight. Disabled or deleted users have no session, nor
    has one whose password changed since the login (through the portal, the API or the CLI).
    """
    now = now or utcnow()
    rows = await session.execute(
        select(PortalSession, User)
        .join(User, User.id == PortalSession.user_id)
        .where(PortalSession.token_hash == token_hash(token))
    )
    found = rows.first()
    if found is None:
        return None
    row, user = found
    if (
        user.disabled
        or row.password_stamp != password_stamp(user.password_hash)
        or now - row.last_seen > idle
        or now - row.created > lifetime
    ):
        await session.execute(delete(PortalSession).where(PortalSession.id == row.id))
        await session.commit()
        return None
    if now - row.last_seen > TOUCH_EVERY:
        await session.execute(
            update(PortalSession).where(PortalSession.id == row.id).values(last_seen=now)
        )
        await session.commit()
    return SignedIn(row.id, user.id, user.username, user.sysadmin, row.csrf_token)


async def end_session(session: AsyncSession, session_id: int) -> None:
    await session.execute(delete(PortalSession).where(PortalSession.id == session_id))


async def keep_after_password_change(session: AsyncSession, session_id: int, user: User) -> None:
    """The session that changed its own password stays signed in."""
    await session.execute(
        update(PortalSession)
        .where(PortalSession.id == session_id)
        .values(password_stamp=password_stamp(user.password_hash))
    )


async def end_user_sessions(
    session: AsyncSession, user_id: int, *, keep: int | None = None
) -> None:
    """Sign a user out everywhere (password reset, deletion), except the session ``keep``."""
    query = delete(PortalSession).where(PortalSession.user_id == user_id)
    if keep is not None:
        query = query.where(PortalSession.id != keep)
    await session.execute(query)
