"""``/robots``: Harbor's robot accounts v2 (the rules are in :mod:`harborlite.robots.operations`).

System robots (``Level=system``, the default) are listed and managed by system administrators;
a project's robots (``Level=project,ProjectID=N``) by those the project's policy gives
``robot`` rights: ProjectAdmins manage them, the other members but limited guests read them.
Anonymous callers get 401 before anything is looked up, so a project's existence is not told.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import ColumnElement
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import field_bool, field_str, json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, Term, conditions, convert, parse_sort, q_of
from harborlite.api.render import iso
from harborlite.db.models import Project, Robot
from harborlite.errors import BadRequest, NotFound
from harborlite.projects import queries as projects
from harborlite.robots import operations
from harborlite.robots import queries as robots
from harborlite.robots.queries import PROJECT, SYSTEM

FIELDS = {
    "id": Field(Robot.id, "int"),
    "disable": Field(Robot.disabled, "bool"),
    "duration": Field(Robot.duration, "int"),
    "expires_at": Field(Robot.expires_at, "int"),
    "creation_time": Field(Robot.creation_time, "time"),
    "update_time": Field(Robot.update_time, "time"),
}
SORTABLE = {**FIELDS, "name": Field(Robot.name)}
HANDLED = ("Level", "ProjectID", "name", "expired")
PROJECT_ID_REQUIRED = "must with project ID when to query project robots"


def robot_json(robot: Robot, prefix: str) -> dict[str, Any]:
    """Harbor's ``Robot``, plus harborlite's ``last_used``; the secret is never told here."""
    return {
        "id": robot.id,
        "name": operations.login_name(robot, prefix),
        "description": robot.description or "",
        "secret": "",
        "level": robot.level,
        "duration": robot.duration,
        "editable": True,
        "disable": robot.disabled,
        "expires_at": robot.expires_at,
        "permissions": robot.permissions,
        "creator_type": robot.creator_type,
        "creator_ref": robot.creator_ref,
        "creation_time": iso(robot.creation_time),
        "update_time": iso(robot.update_time),
        "last_used": iso(robot.last_used),
    }


def _prefix(call: ApiCall) -> str:
    return call.services.settings.robot_name_prefix


def _only(terms: list[Term], key: str) -> str | None:
    """The value of an exact ``key=value`` term, or None when there is none."""
    found = [term for term in terms if term.key == key]
    if not found:
        return None
    if len(found) > 1 or found[0].kind != "exact":
        raise BadRequest(f"{key} takes one exact value ({key}=value)")
    return found[0].values[0] or ""


def _name_conditions(
    terms: list[Term], prefix: str, project: Project | None
) -> list[ColumnElement[bool]]:
    """``name=x`` (the login, stored or short name) and ``name=~x`` (a part of it)."""
    result: list[ColumnElement[bool]] = []
    for term in terms:
        if term.key != "name":
            continue
        value = (term.values[0] or "").removeprefix(prefix)
        if term.kind == "fuzzy":
            result.append(Robot.name.contains(value, autoescape=True))
        elif term.kind == "exact":
            names = {value} | ({f"{project.name}+{value}"} if project is not None else set())
            result.append(Robot.name.in_(names))
        else:
            raise BadRequest("name takes name=value or name=~part")
    return result


async def list_robots(request: Request) -> Response:
    page = page_of(request)
    terms = q_of(request)
    where = conditions(terms, FIELDS, handled=HANDLED)
    order = parse_sort(request.query_params.get("sort"), SORTABLE, [])
    level = _only(terms, "Level")
    raw_project = _only(terms, "ProjectID")
    expired = _only(terms, "expired")
    if level is None:
        level = PROJECT if raw_project is not None else SYSTEM
    if level not in (SYSTEM, PROJECT):
        raise BadRequest(f"bad request level: {level}; the level is system or project")
    async with api_call(request) as call:
        call.require_login()
        project = None
        if level == PROJECT:
            if not raw_project:
                raise BadRequest(PROJECT_ID_REQUIRED)
            project_id = convert(raw_project, Field(Robot.project_id, "int"), "ProjectID")
            assert isinstance(project_id, int)
            project = await projects.get_project(call.session, project_id)
            if project is None:
                raise NotFound(f"project {project_id} not found")
        await operations.require_right(call.session, call.principal, project, "list")
        where += _name_conditions(terms, _prefix(call), project)
        if expired is not None:
            flag = convert(expired, Field(Robot.disabled, "bool"), "expired")
            where.append(robots.expired_condition(bool(flag)))
        rows, total = await robots.list_robots(
            call.session,
            level=level,
            project_id=project.id if project is not None else None,
            conditions=where,
            order_by=[*order, Robot.id] if order else (),
            offset=page.offset,
            limit=page.size,
        )
        items = [robot_json(robot, _prefix(call)) for robot in rows]
    return paged_response(request, items, total, page)


async def create_robot(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        body = await json_body(request)
        robot, secret = await operations.create_robot(
            call.session,
            call.principal,
            name=body.get("name"),
            description=body.get("description"),
            level=body.get("level"),
            duration=body.get("duration"),
            disable=field_bool(body, "disable"),
            permissions=body.get("permissions"),
            prefix=_prefix(call),
            by=call.actor,
        )
        created = {
            "id": robot.id,
            "name": operations.login_name(robot, _prefix(call)),
            "secret": secret,
            "creation_time": iso(robot.creation_time),
            "expires_at": robot.expires_at,
        }
    return JSONResponse(
        created, status_code=201, headers={"Location": f"/api/v2.0/robots/{robot.id}"}
    )


async def _robot_in_path(call: ApiCall) -> Robot:
    call.require_login()
    robot_id = path_int(call.request, "robot_id")
    robot = await robots.get_robot(call.session, robot_id)
    if robot is None:
        raise NotFound(f"robot {robot_id} not found")
    return robot


async def get_robot(request: Request) -> Response:
    async with api_call(request) as call:
        robot = await _robot_in_path(call)
        project = await operations.project_of(call.session, robot)
        await operations.require_right(call.session, call.principal, project, "read")
        answer = robot_json(robot, _prefix(call))
    return JSONResponse(answer)


async def update_robot(request: Request) -> Response:
    async with api_call(request) as call:
        robot = await _robot_in_path(call)
        body = await json_body(request)
        await operations.update_robot(
            call.session,
            call.principal,
            robot,
            prefix=_prefix(call),
            by=call.actor,
            name=body.get("name"),
            level=body.get("level"),
            description=body.get("description"),
            disable=body.get("disable"),
            duration=body.get("duration"),
            permissions=body.get("permissions"),
        )
    return Response(status_code=200)


async def refresh_secret(request: Request) -> Response:
    """``{"secret": ""}`` or no secret: a new one is made and told; a secret of the caller's:
    set, and ``{"secret": ""}`` told."""
    async with api_call(request) as call:
        robot = await _robot_in_path(call)
        body = await json_body(request) if await request.body() else {}
        secret = await operations.refresh_secret(
            call.session,
            call.principal,
            robot,
            field_str(body, "secret"),
            prefix=_prefix(call),
            by=call.actor,
        )
    return JSONResponse({"secret": secret})


async def delete_robot(request: Request) -> Response:
    async with api_call(request) as call:
        robot = await _robot_in_path(call)
        await operations.delete_robot(
            call.session, call.principal, robot, prefix=_prefix(call), by=call.actor
        )
    return Response(status_code=200)


ROUTES = [
    Route("/robots", list_robots, methods=["GET"]),
    Route("/robots", create_robot, methods=["POST"]),
    Route("/robots/{robot_id}", get_robot, methods=["GET"]),
    Route("/robots/{robot_id}", update_robot, methods=["PUT"]),
    Route("/robots/{robot_id}", refresh_secret, methods=["PATCH"]),
    Route("/robots/{robot_id}", delete_robot, methods=["DELETE"]),
]
