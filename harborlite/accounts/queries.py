"""Users in the database. Each function takes a session; the caller commits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import User, utcnow


async def get_user(session: AsyncSession, user_id: int) -> User | None:
    return await session.get(User, user_id)


async def get_user_by_name(session: AsyncSession, username: str) -> User | None:
    """The user named ``username`` in any case (``ADMIN`` finds ``admin``): names are unique
    case-insensitively (the index on ``lower(username)``), the stored one keeps its case."""
    result = await session.execute(
        select(User).where(func.lower(User.username) == username.lower())
    )
    return result.scalar_one_or_none()


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password_hash: str,
    email: str = "",
    realname: str = "",
    comment: str = "",
    sysadmin: bool = False,
) -> User:
    user = User(
        username=username,
        password_hash=password_hash,
        email=email,
        realname=realname,
        comment=comment,
        sysadmin=sysadmin,
    )
    session.add(user)
    await session.flush()
    return user


async def email_taken(session: AsyncSession, email: str, except_id: int | None = None) -> bool:
    query = select(User.id).where(User.email == email)
    if except_id is not None:
        query = query.where(User.id != except_id)
    return (await session.execute(query.limit(1))).first() is not None


async def list_users(
    session: AsyncSession,
    *,
    username: str | None = None,
    conditions: Sequence[ColumnElement[bool]] = (),
    order_by: Sequence[Any] = (),
    offset: int = 0,
    limit: int = 10,
) -> tuple[list[User], int]:
    query = select(User)
    if username:
        pattern = f"%{username}%"
        query = query.where(or_(User.username.like(pattern), User.email.like(pattern)))
    for condition in conditions:
        query = query.where(condition)
    total = int((await session.execute(query.with_only_columns(func.count(User.id)))).scalar_one())
    order = list(order_by) or [User.id]
    rows = await session.execute(query.order_by(*order).offset(offset).limit(limit))
    return list(rows.scalars()), total


async def set_password(session: AsyncSession, user: User, password_hash: str) -> None:
    user.password_hash = password_hash
    user.update_time = utcnow()
    await session.flush()


async def set_sysadmin(session: AsyncSession, user: User, sysadmin: bool) -> None:
    user.sysadmin = sysadmin
    user.update_time = utcnow()
    await session.flush()


async def set_disabled(session: AsyncSession, user: User, disabled: bool) -> None:
    user.disabled = disabled
    user.update_time = utcnow()
    await session.flush()


async def delete_user(session: AsyncSession, user: User) -> None:
    await session.delete(user)
    await session.flush()


async def count_users(session: AsyncSession) -> int:
    return int((await session.execute(select(func.count()).select_from(User))).scalar_one())


async def search_users(
    session: AsyncSession, fragment: str, *, offset: int = 0, limit: int = 10
) -> tuple[list[tuple[int, str]], int]:
    """(id, username) of users whose name contains ``fragment``, and how many there are."""
    condition = User.username.contains(fragment, autoescape=True)
    total = int((await session.execute(select(func.count(User.id)).where(condition))).scalar_one())
    rows = await session.execute(
        select(User.id, User.username)
        .where(condition)
        .order_by(User.username)
        .offset(offset)
        .limit(limit)
    )
    return [(user_id, username) for user_id, username in rows.all()], total


async def update_profile(
    session: AsyncSession,
    user: User,
    *,
    email: str | None = None,
    realname: str | None = None,
    comment: str | None = None,
) -> None:
    if email is not None:
        user.email = email
    if realname is not None:
        user.realname = realname
    if comment is not None:
        user.comment = comment
    user.update_time = utcnow()
    await session.flush()
