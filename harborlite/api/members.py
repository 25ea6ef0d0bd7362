"""``/projects/{p}/members``: who may do what in a project."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.api.context import (
    caller,
    check,
    json_body,
    origin,
    path_int,
    project_from_path,
)
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import member_json
from harborlite.audit.events import CREATE, DELETE, UPDATE, AuditEvent, record
from harborlite.auth.permissions import Role
from harborlite.db.models import User
from harborlite.errors import BadRequest, Conflict, Forbidden, NotFound
from harborlite.projects import queries as projects
from harborlite.services import services_of


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
    services = services_of(request)
    page = page_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "member", "list")
        rows, total = await projects.page_members(
            session,
            project.id,
            entityname=request.query_params.get("entityname"),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [member_json(m, u) for m, u in rows], total, page)


async def _member_user(session: Any, body: dict[str, Any]) -> User:
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
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "member", "create")
        body = await json_body(request)
        role = role_of(body)
        user = await _member_user(session, body)
        if await projects.find_member(session, project.id, user.id) is not None:
            raise Conflict(f"{user.username} is already a member of {project.name}")
        member = await projects.add_member(session, project.id, user.id, role)
        record(
            session,
            AuditEvent(
                principal.username,
                CREATE,
                "member",
                f"{project.name}/{user.username}",
                origin(request),
                project_id=project.id,
                detail=f"role={role.label}",
            ),
        )
        await session.commit()
        location = f"/api/v2.0/projects/{project.id}/members/{member.id}"
    return Response(status_code=201, headers={"Location": location})


async def _member_in_path(request: Request, session: Any, project_id: int) -> tuple[Any, User]:
    member = await projects.get_member(session, project_id, path_int(request, "mid"))
    if member is None:
        raise NotFound(f"member {request.path_params['mid']} not found")
    user = await accounts.get_user(session, member.user_id)
    assert user is not None
    return member, user


async def get_member(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "member", "read")
        member, user = await _member_in_path(request, session, project.id)
    return JSONResponse(member_json(member, user))


async def _guard_last_admin(session: Any, principal: Any, project_id: int, member: Any) -> None:
    if member.role_id == Role.PROJECT_ADMIN and not principal.sysadmin:
        if await projects.count_project_admins(session, project_id) <= 1:
            raise Forbidden(
                "the last project admin cannot be removed or demoted (a system administrator can)"
            )


async def update_member(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "member", "update")
        body = await json_body(request)
        role = role_of(body)
        member, user = await _member_in_path(request, session, project.id)
        if role != Role.PROJECT_ADMIN:
            await _guard_last_admin(session, principal, project.id, member)
        await projects.update_member(session, member, role)
        record(
            session,
            AuditEvent(
                principal.username,
                UPDATE,
                "member",
                f"{project.name}/{user.username}",
                origin(request),
                project_id=project.id,
                detail=f"role={role.label}",
            ),
        )
        await session.commit()
    return Response(status_code=200)


async def delete_member(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "member", "delete")
        member, user = await _member_in_path(request, session, project.id)
        await _guard_last_admin(session, principal, project.id, member)
        await projects.delete_member(session, member)
        record(
            session,
            AuditEvent(
                principal.username,
                DELETE,
                "member",
                f"{project.name}/{user.username}",
                origin(request),
                project_id=project.id,
            ),
        )
        await session.commit()
    return Response(status_code=200)


ROUTES = [
    Route("/projects/{project_name_or_id}/members", list_members, methods=["GET"]),
    Route("/projects/{project_name_or_id}/members", add_member, methods=["POST"]),
    Route("/projects/{project_name_or_id}/members/{mid}", get_member, methods=["GET"]),
    Route("/projects/{project_name_or_id}/members/{mid}", update_member, methods=["PUT"]),
    Route("/projects/{project_name_or_id}/members/{mid}", delete_member, methods=["DELETE"]),
]
