"""``/users``: accounts, passwords, the system-admin flag, disabling (rules in
accounts.operations)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.accounts import operations
from harborlite.accounts import queries as accounts
from harborlite.api.body import field_bool, field_str, json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render import user_json
from harborlite.auth.permissions import may_manage_user, system_can
from harborlite.db.models import User
from harborlite.errors import BadRequest, Forbidden, NotFound

FIELDS = {
    "user_id": Field(User.id, "int"),
    "username": Field(User.username),
    "email": Field(User.email),
    "realname": Field(User.realname),
    "creation_time": Field(User.creation_time, "time"),
    "update_time": Field(User.update_time, "time"),
}


async def _user(call: ApiCall, user_id: int) -> User:
    user = await accounts.get_user(call.session, user_id)
    if user is None:
        raise NotFound(f"user {user_id} not found")
    return user


def _manageable(call: ApiCall, user_id: int, what: str) -> None:
    """Oneself, or anyone for a system administrator."""
    call.require_login()
    if not may_manage_user(call.principal, user_id):
        raise Forbidden(f"only system administrators may {what}")


async def create_user(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("user", "create")
        body = await json_body(request)
        user = await operations.create_user(
            call.session,
            username=field_str(body, "username", required=True),
            password=field_str(body, "password", required=True),
            email=field_str(body, "email"),
            realname=field_str(body, "realname"),
            comment=field_str(body, "comment"),
            sysadmin=field_bool(body, "sysadmin_flag"),
            by=call.actor,
        )
        location = f"/api/v2.0/users/{user.id}"
    return Response(status_code=201, headers={"Location": location})


async def list_users(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        call.require_system("user", "list")
        users, total = await accounts.list_users(
            call.session,
            username=request.query_params.get("username"),
            conditions=where,
            order_by=[*order, User.id] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [user_json(u) for u in users], total, page)


async def current_user(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        user = await accounts.get_user(call.session, call.principal.user_id or 0)
        if user is None:
            raise NotFound("user not found")
    return JSONResponse(user_json(user))


async def get_user(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    async with api_call(request) as call:
        _manageable(call, user_id, "read other users")
        user = await _user(call, user_id)
    return JSONResponse(user_json(user))


async def delete_user(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    async with api_call(request) as call:
        call.require_system("user", "delete")
        await operations.delete_user(
            call.session,
            await _user(call, user_id),
            principal=call.principal,
            by=call.actor,
            credentials=call.services.credentials,
        )
    return Response(status_code=200)


async def change_password(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    async with api_call(request) as call:
        _manageable(call, user_id, "change other users' passwords")
        body = await json_body(request)
        new_password = field_str(body, "new_password", required=True)
        user = await _user(call, user_id)
        old_password = body.get("old_password")
        await operations.set_password(
            call.session,
            user,
            new_password,
            old_password=field_str(body, "old_password") if old_password is not None else None,
            principal=call.principal,
            by=call.actor,
            credentials=call.services.credentials,
        )
    return Response(status_code=200)


async def set_sysadmin(request: Request) -> Response:
    user_id = path_int(request, "user_id")
    async with api_call(request) as call:
        call.require_system("user", "update")
        body = await json_body(request)
        flag = body.get("sysadmin_flag")
        if not isinstance(flag, bool):
            raise BadRequest("sysadmin_flag must be a boolean")
        await operations.set_sysadmin(
            call.session,
            await _user(call, user_id),
            flag,
            principal=call.principal,
            by=call.actor,
            credentials=call.services.credentials,
        )
    return Response(status_code=200)


async def search_users(request: Request) -> Response:
    page = page_of(request)
    fragment = request.query_params.get("username")
    if not fragment:
        raise BadRequest("username is required")
    async with api_call(request) as call:
        call.require_login()
        rows, total = await accounts.search_users(
            call.session, fragment, offset=page.offset, limit=page.size
        )
    items = [{"user_id": user_id, "username": username} for user_id, username in rows]
    return paged_response(request, items, total, page)


async def update_profile(request: Request) -> Response:
    """Harbor's UserProfile (email, realname, comment) and harborlite's ``disabled``: a system
    administrator disables or enables a user (nobody disables themselves)."""
    user_id = path_int(request, "user_id")
    async with api_call(request) as call:
        _manageable(call, user_id, "change other users' profiles")
        body = await json_body(request)
        disabled = body.get("disabled")
        if "disabled" in body:
            if not isinstance(disabled, bool):
                raise BadRequest("disabled must be a boolean")
            if not system_can(call.principal, "user", "update"):
                raise Forbidden("only system administrators may disable or enable users")
        user = await _user(call, user_id)
        if "disabled" not in body or body.keys() & {"email", "realname", "comment"}:
            await operations.update_profile(
                call.session,
                user,
                email=field_str(body, "email") if body.get("email") is not None else None,
                realname=field_str(body, "realname") if "realname" in body else None,
                comment=field_str(body, "comment") if "comment" in body else None,
                by=call.actor,
            )
        if isinstance(disabled, bool):
            await operations.set_disabled(
                call.session,
                user,
                disabled,
                principal=call.principal,
                by=call.actor,
                credentials=call.services.credentials,
            )
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
