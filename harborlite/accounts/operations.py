"""The account use cases, written once for the REST API, the portal and the CLI.

Each operation checks its rules (raising the error tree), changes the database in the caller's
transaction and records its audit entry; the caller commits. Who may call an operation at all
(only system administrators create users, ...) is the surface's check, through
:mod:`harborlite.auth.permissions`; the rules about one's own account are here, with the acting
``principal`` (``None`` for the CLI, which has no account of its own). The verified-credential
cache forgets a user whose password, rights or existence change.
"""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.accounts import queries
from harborlite.accounts.names import USERNAME_RULE, valid_email, valid_username
from harborlite.accounts.passwords import (
    CredentialCache,
    PasswordPolicyError,
    check_policy,
    hash_password,
    verify_password,
)
from harborlite.audit.events import CREATE, DELETE, UPDATE, Actor, record
from harborlite.auth.permissions import Principal
from harborlite.auth.revocation import revoke
from harborlite.db.errors import flush_unique
from harborlite.db.models import User
from harborlite.errors import BadRequest, Conflict, Forbidden


def check_username(username: str) -> None:
    if not valid_username(username):
        raise BadRequest(f"username must be {USERNAME_RULE}")


def check_password(password: str) -> None:
    try:
        check_policy(password)
    except PasswordPolicyError as error:
        raise BadRequest(str(error)) from None


def check_email(email: str) -> None:
    """An empty address is allowed (none given); any other must look like one."""
    if email and not valid_email(email):
        raise BadRequest(f"email {email!r} is not a valid address")


async def _email_free(session: AsyncSession, email: str, except_id: int | None = None) -> None:
    if email and await queries.email_taken(session, email, except_id=except_id):
        raise Conflict(f"email {email} is already used by another user")


def _is_self(principal: Principal | None, user: User) -> bool:
    return principal is not None and not principal.anonymous and principal.user_id == user.id


async def create_user(
    session: AsyncSession,
    *,
    username: str,
    password: str,
    email: str = "",
    realname: str = "",
    comment: str = "",
    sysadmin: bool = False,
    by: Actor,
) -> User:
    """A new user, after the name, password and e-mail rules; 409 for a taken name or e-mail.

    Two callers creating one name at the same moment: the database's unique key decides and
    the loser gets the same 409 as a caller that came later. Names are one whatever their case
    (``Admin`` is taken once ``admin`` exists), as the index on ``lower(username)`` says. E-mail
    addresses have no unique key, so two creates racing with one address can both succeed."""
    check_username(username)
    check_password(password)
    check_email(email)
    taken = f"user {username} already exists"
    existing = await queries.get_user_by_name(session, username)
    if existing is not None:
        if existing.username != username:  # the same name in another case
            raise Conflict(f"{taken} as {existing.username}: user names ignore case")
        raise Conflict(taken)
    await _email_free(session, email)
    user = User(
        username=username,
        password_hash=await hash_password(password),
        email=email,
        realname=realname,
        comment=comment,
        sysadmin=sysadmin,
    )
    session.add(user)
    await flush_unique(session, taken)
    record(session, by.event(CREATE, "user", username))
    return user


async def delete_user(
    session: AsyncSession,
    user: User,
    *,
    principal: Principal | None,
    by: Actor,
    credentials: CredentialCache,
) -> None:
    """Delete ``user``; nobody deletes their own account."""
    if _is_self(principal, user):
        raise Forbidden("you cannot delete yourself")
    username = user.username
    await queries.delete_user(session, user)
    record(session, by.event(DELETE, "user", username))
    revoke(session, "user", username)
    credentials.forget(username)


async def set_password(
    session: AsyncSession,
    user: User,
    new_password: str,
    *,
    old_password: str | None = None,
    principal: Principal | None,
    by: Actor,
    credentials: CredentialCache,
) -> None:
    """Change ``user``'s password. Changing one's own needs the old one; the new one follows
    the policy and differs from the old one. What was opened with the old password (portal
    sessions, refresh tokens) stops working, as they carry its stamp."""
    own = _is_self(principal, user)
    if own:
        if old_password is None:
            raise BadRequest("the old password is required to change your own password")
        if not await verify_password(old_password, user.password_hash):
            raise Forbidden("the old password is wrong")
    check_password(new_password)
    if await verify_password(new_password, user.password_hash):
        raise BadRequest("the new password must differ from the old one")
    await queries.set_password(session, user, await hash_password(new_password))
    detail = "password changed" if own else "password reset"
    record(session, by.event(UPDATE, "user", user.username, detail=detail))
    revoke(session, "user", user.username)  # a stolen password's tokens die with it
    credentials.forget(user.username)


async def set_sysadmin(
    session: AsyncSession,
    user: User,
    sysadmin: bool,
    *,
    principal: Principal | None,
    by: Actor,
    credentials: CredentialCache,
) -> None:
    """Grant or take away system administrator rights; nobody drops their own."""
    if _is_self(principal, user) and not sysadmin:
        raise Forbidden("you cannot remove your own administrator rights")
    was = user.sysadmin
    await queries.set_sysadmin(session, user, sysadmin)
    record(session, by.event(UPDATE, "user", user.username, detail=f"sysadmin={sysadmin}"))
    if was and not sysadmin:
        revoke(session, "user", user.username)
    credentials.forget(user.username)


async def set_disabled(
    session: AsyncSession,
    user: User,
    disabled: bool,
    *,
    principal: Principal | None,
    by: Actor,
    credentials: CredentialCache,
) -> None:
    """Disable a user (refused everywhere as a wrong password would be, their tokens dead at
    once) or enable them again; nobody disables themselves."""
    if _is_self(principal, user) and disabled:
        raise Forbidden("you cannot disable yourself")
    if user.disabled == disabled:
        return
    await queries.set_disabled(session, user, disabled)
    detail = "disabled" if disabled else "enabled"
    record(session, by.event(UPDATE, "user", user.username, detail=detail))
    if disabled:
        revoke(session, "user", user.username)
    credentials.forget(user.username)


async def update_profile(
    session: AsyncSession,
    user: User,
    *,
    email: str | None = None,
    realname: str | None = None,
    comment: str | None = None,
    by: Actor,
) -> None:
    """Change the e-mail (valid, and nobody else's), real name or comment; ``None`` keeps it."""
    if email is not None:
        check_email(email)
        await _email_free(session, email, except_id=user.id)
    await queries.update_profile(session, user, email=email, realname=realname, comment=comment)
    record(session, by.event(UPDATE, "user", user.username, detail="profile"))
