"""``/projects/{p}/members``: who may do what in a project."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.api.body import json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import member_json
from harborlite.auth.permissions import Role
from harborlite.db.models import Member, User
from harborlite.errors import BadRequest, NotFound
from harborlite.projects import operations
from harborlite.projects import queries as projects


def role_of(body: dict[str, Any]) -> Role:
    raw = body.get("role_id")
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise BadRequest(
            "role_id must be a whole number: 1 projectAdmin, 2 developer, "
            "3 guest, 4 maintainer, 5 limitedGuest"
        )
    try:
        return Role(raw)
    except ValueError:
        raise BadRequest(f"role_id {raw} is not a role: use 1 to 5") from None


async def list_members(request: Request) -> Response:
    page = page_of(request)
    async with api_call(request) as call:
        found = await call.project(("member", "list"))
        rows, total = await projects.page_members(
            call.session,
            found.project.id,
            entityname=request.query_params.get("entityname"),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [member_json(m, u) for m, u in rows], total, page)


async def _member_user(session: AsyncSession, body: dict[str, Any]) -> User:
    ref = body.get("member_user")
    if not isinstance(ref, dict):
        if body.get("member_group"):
            raise BadRequest("group members are not supported: harborlite has no groups")
        raise BadRequest('member_user is required: {"username": "..."} or {"user_id": N}')
    user = None
    if isinstance(ref.get("user_id"), int) and ref["user_id"] > 0:
        user = await accounts.get_user(session, ref["user_id"])
    elif isinstance(ref.get("username"), str) and ref["username"]:
        user = await accounts.get_user_by_name(session, ref["username"])
    else:
        raise BadRequest("member_user needs username or user_id")
    if user is None:
        raise NotFound(f"user {ref.get('username') or ref.get('user_id')} not found")
    return user


async def add_member(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("member", "create"))
        body = await json_body(request)
        role = role_of(body)
        user = await _member_user(call.session, body)
        member = await operations.add_member(call.session, found.project, user, role, by=call.actor)
        location = f"/api/v2.0/projects/{found.project.id}/members/{member.id}"
    return Response(status_code=201, headers={"Location": location})


async def _member_in_path(call: ApiCall, project_id: int) -> Member:
    member = await projects.get_member(call.session, project_id, path_int(call.request, "mid"))
    if member is None:
        raise NotFound(f"member {call.request.path_params['mid']} not found")
    return member


async def get_member(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("member", "read"))
        member = await _member_in_path(call, found.project.id)
        user = await accounts.get_user(call.session, member.user_id)
        if user is None:
            raise NotFound(f"member {member.id} not found")
    return JSONResponse(member_json(member, user))


async def update_member(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("member", "update"))
        role = role_of(await json_body(request))
        member = await _member_in_path(call, found.project.id)
        await operations.change_member_role(
            call.session, call.principal, found.project, member, role, by=call.actor
        )
    return Response(status_code=200)


async def delete_member(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("member", "delete"))
        member = await _member_in_path(call, found.project.id)
        await operations.remove_member(
            call.session, call.principal, found.project, member, by=call.actor
        )
    return Response(status_code=200)


ROUTES = [
    Route("/projects/{project_name_or_id}/members", list_members, methods=["GET"]),
    Route("/projects/{project_name_or_id}/members", add_member, methods=["POST"]),
    Route("/projects/{project_name_or_id}/members/{mid}", get_member, methods=["GET"]),
    Route("/projects/{project_name_or_id}/members/{mid}", update_member, methods=["PUT"]),
    Route("/projects/{project_name_or_id}/members/{mid}", delete_member, methods=["DELETE"]),
]
