"""``/users``: accounts, passwords, the system-admin flag."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.accounts.names import USERNAME_RULE, valid_email, valid_username
from harborlite.accounts.passwords import (
    PasswordPolicyError,
    check_policy,
    hash_password,
    verify_password,
)
from harborlite.api.context import (
    caller,
    field_bool,
    field_str,
    json_body,
    origin,
    path_int,
    require_admin,
    require_login,
)
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render import user_json
from harborlite.audit.events import CREATE, DELETE, UPDATE, AuditEvent, record
from harborlite.db.models import User
from harborlite.errors import BadRequest, Conflict, Forbidden, NotFound
from harborlite.services import services_of

FIELDS = {
    "user_id": Field(User.id, "int"),
    "username": Field(User.username),
    "email": Field(User.email),
    "realname": Field(User.realname),
    "creation_time": Field(User.creation_time, "time"),
    "update_time": Field(User.update_time, "time"),
}


def validate_username(username: str) -> None:
    if not valid_username(username):
        raise BadRequest(f"username must be {USERNAME_RULE}")


def validate_password(password: str) -> None:
    try:
        check_policy(password)
    except PasswordPolicyError as error:
        raise BadRequest(str(error)) from None


async def user_or_404(session: AsyncSession, user_id: int) -> User:
    user = await accounts.get_user(session, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


async def create_user(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_admin(principal)
        body = await json_body(request)
        username = field_str(body, "username", required=True)
        password = field_str(body, "password", required=True)
        email = field_str(body, "email")
        validate_username(username)
        validate_password(password)
        if email and not valid_email(email):
            raise BadRequest(f"email {email!r} is not a valid address")
        if await accounts.get_user_by_name(session, username) is not None:
            raise Conflict(f"user {username} already exists")
        if email and await accounts.email_taken(session, email):
            raise Conflict(f"email {email} is already used by another user")
        user = await accounts.create_user(
            session,
            username=username,
            password_hash=await hash_password(password),
            email=email,
            realname=field_str(body, "realname"),
            comment=field_str(body, "comment"),
            sysadmin=field_bool(body, "sysadmin_flag"),
        )
        record(session, AuditEvent(principal.username, CREATE, "user", username, origin(request)))
        await session.commit()
        location = f"/api/v2.0/users/{user.id}"
    return Response(status_code=201, headers={"Location": location})


async def list_users(request: Request) -> Response:
    services = services_of(request)
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_admin(principal)
        users, total = await accounts.list_users(
            session,
            username=request.query_params.get("username"),
            conditions=where,
            order_by=[*order, User.id] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [user_json(u) for u in users], total, page)


async def current_user(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        assert principal.user_id is not None
        user = await accounts.get_user(session, principal.user_id)
        if user is None:
            raise NotFound("user not found")
    return JSONResponse(user_json(user))


async def get_user(request: Request) -> Response:
    services = services_of(request)
    user_id = path_int(request, "user_id")
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        if not principal.sysadmin and principal.user_id != user_id:
            raise Forbidden("only system administrators may read other users")
        user = await user_or_404(session, user_id)
    return JSONResponse(user_json(user))


async def delete_user(request: Request) -> Response:
    services = services_of(request)
    user_id = path_int(request, "user_id")
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_admin(principal)
        user = await user_or_404(session, user_id)
        if user.id == principal.user_id:
            raise Forbidden("you cannot delete yourself")
        username = user.username
        await accounts.delete_user(session, user)
        record(session, AuditEvent(principal.username, DELETE, "user", username, origin(request)))
        await session.commit()
    services.credentials.forget(username)
    return Response(status_code=200)


async def change_password(request: Request) -> Response:
    services = services_of(request)
    user_id = path_int(request, "user_id")
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        own = principal.user_id == user_id
        if not own and not principal.sysadmin:
            raise Forbidden("only system administrators may change other users' passwords")
        body = await json_body(request)
        new_password = field_str(body, "new_password", required=True)
        user = await user_or_404(session, user_id)
        if own:
            old_password = field_str(body, "old_password", required=True)
            if not await verify_password(old_password, user.password_hash):
                raise Forbidden("the old password is wrong")
        validate_password(new_password)
        if await verify_password(new_password, user.password_hash):
            raise BadRequest("the new password must differ from the old one")
        await accounts.set_password(session, user, await hash_password(new_password))
        record(
            session,
            AuditEvent(
                principal.username,
                UPDATE,
                "user",
                user.username,
                origin(request),
                detail="password changed",
            ),
        )
        await session.commit()
    services.credentials.forget(user.username)
    return Response(status_code=200)


async def set_sysadmin(request: Request) -> Response:
    services = services_of(request)
    user_id = path_int(request, "user_id")
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_admin(principal)
        body = await json_body(request)
        if not isinstance(body.get("sysadmin_flag"), bool):
            raise BadRequest("sysadmin_flag must be a boolean")
        user = await user_or_404(session, user_id)
        if user.id == principal.user_id and not body["sysadmin_flag"]:
            raise Forbidden("you cannot remove your own administrator rights")
        await accounts.set_sysadmin(session, user, body["sysadmin_flag"])
        record(
            session,
            AuditEvent(
                principal.username,
                UPDATE,
                "user",
                user.username,
                origin(request),
                detail=f"sysadmin={body['sysadmin_flag']}",
            ),
        )
        await session.commit()
    services.credentials.forget(user.username)
    return Response(status_code=200)


async def search_users(request: Request) -> Response:
    services = services_of(request)
    page = page_of(request)
    fragment = request.query_params.get("username")
    if not fragment:
        raise BadRequest("username is required")
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        rows, total = await accounts.search_users(
            session, fragment, offset=page.offset, limit=page.size
        )
    items = [{"user_id": user_id, "username": username} for user_id, username in rows]
    return paged_response(request, items, total, page)


async def update_profile(request: Request) -> Response:
    services = services_of(request)
    user_id = path_int(request, "user_id")
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        if not principal.sysadmin and principal.user_id != user_id:
            raise Forbidden("only system administrators may change other users' profiles")
        body = await json_body(request)
        user = await user_or_404(session, user_id)
        email = body.get("email")
        if email is not None:
            email = field_str(body, "email")
            if email and not valid_email(email):
                raise BadRequest(f"email {email!r} is not a valid address")
            if email and await accounts.email_taken(session, email, except_id=user.id):
                raise Conflict(f"email {email} is already used by another user")
        realname = field_str(body, "realname") if "realname" in body else None
        comment = field_str(body, "comment") if "comment" in body else None
        await accounts.update_profile(
            session, user, email=email, realname=realname, comment=comment
        )
        record(
            session,
            AuditEvent(
                principal.username,
                UPDATE,
                "user",
                user.username,
                origin(request),
                detail="profile",
            ),
        )
        await session.commit()
    return Response(status_code=200)


ROUTES = [
    Route("/users", list_users, methods=["GET"]),
    Route("/users", create_user, methods=["POST"]),
    Route("/users/current", current_user, methods=["GET"]),
    Route("/users/search", search_users, methods=["GET"]),
    Route("/users/{user_id}", get_user, methods=["GET"]),
    Route("/users/{user_id}", update_profile, methods=["PUT"]),
    Route("/users/{user_id}", delete_user, methods=["DELETE"]),
    Route("/users/{user_id}/password", change_password, methods=["PUT"]),
    Route("/users/{user_id}/sysadmin", set_sysadmin, methods=["PUT"]),
]
