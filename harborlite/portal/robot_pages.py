"""Robot accounts in the portal: a project's Robot Accounts tab (its ProjectAdmins manage them,
its other members but limited guests read the list) and Administration's (system robots).

The rules are the domain's (:mod:`harborlite.robots.operations`); the sentences and the forms
are the portal's. A new secret is shown once, in the answer to the form that made it (never in
a cookie or a redirect), with a copy button; harborlite keeps only its hash.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.auth.permissions import ProjectAccess
from harborlite.db.models import Project, Robot
from harborlite.errors import HarborliteError, NotFound
from harborlite.portal.account_pages import sentence
from harborlite.portal.call import PageCall, page_call
from harborlite.portal.pages import checked_form, page_number, redirect, render, text_field
from harborlite.portal.paging import Pager
from harborlite.robots import operations
from harborlite.robots import queries as robots
from harborlite.robots.queries import PROJECT, SYSTEM

PAGE_SIZE = 25
ACTIONS = ("disable", "enable", "refresh", "delete")
GONE = "That robot account does not exist any more."
# the permissions the forms offer: (resource, action, label)
COMMON = [
    ("repository", "pull", "Pull"),
    ("repository", "push", "Push"),
    ("repository", "delete", "Delete repositories"),
    ("artifact", "read", "Read artifacts"),
    ("artifact", "delete", "Delete artifacts"),
    ("tag", "create", "Create tags"),
    ("tag", "delete", "Delete tags"),
    ("artifact-label", "create", "Add labels"),
    ("artifact-label", "delete", "Remove labels"),
    ("scan", "create", "Scan"),
]


@dataclass(frozen=True)
class RobotRow:
    """A robot as the list shows it."""

    id: int
    name: str
    description: str
    permissions: list[tuple[str, str]]  # (namespace, "repository pull, push · tag create")
    expires: str
    expired: bool
    disabled: bool
    last_used: datetime | None
    creation_time: datetime


@dataclass(frozen=True)
class Shown:
    """A secret shown once: the robot's login name and its secret."""

    name: str
    secret: str
    refreshed: bool = False


def _expiry(robot: Robot) -> str:
    if robot.expires_at == operations.NEVER:
        return "never"
    try:
        return datetime.fromtimestamp(robot.expires_at, UTC).strftime("%Y-%m-%d")
    except (OverflowError, OSError, ValueError):  # a duration of millions of days
        return "far in the future"


def _readable(entry: dict[str, Any]) -> tuple[str, str]:
    by_resource: dict[str, list[str]] = {}
    for item in entry.get("access") or []:
        if isinstance(item, dict):
            by_resource.setdefault(str(item.get("resource")), []).append(str(item.get("action")))
    namespace = str(entry.get("namespace"))
    where = {"/": "system", "*": "all projects"}.get(namespace, namespace)
    return where, " · ".join(f"{r} {', '.join(a)}" for r, a in by_resource.items())


def row_of(robot: Robot, prefix: str) -> RobotRow:
    return RobotRow(
        id=robot.id,
        name=operations.login_name(robot, prefix),
        description=robot.description or "",
        permissions=[_readable(e) for e in robot.permissions if isinstance(e, dict)],
        expires=_expiry(robot),
        expired=operations.is_expired(robot),
        disabled=robot.disabled,
        last_used=robot.last_used,
        creation_time=robot.creation_time,
    )


def _prefix(call: PageCall) -> str:
    return call.services.settings.robot_name_prefix


def _access_of(form: FormData) -> list[dict[str, str]]:
    offered = {f"{resource}:{action}" for resource, action, _ in COMMON}
    chosen = [value for value in form.getlist("access") if isinstance(value, str)]
    return [
        {"resource": value.partition(":")[0], "action": value.partition(":")[2]}
        for value in chosen
        if value in offered
    ]


def _duration_of(form: FormData) -> int | None:
    """-1 for "never", the days given, or None when they are not a whole number."""
    if form.get("never") in ("on", "true", "1"):
        return operations.NEVER
    days = text_field(form, "duration")
    return int(days) if days.isdigit() and len(days) < 11 else None


async def _robot(call: PageCall, project: Project | None) -> Robot:
    """The robot of the path, when it belongs where the page is (else 404)."""
    robot = await robots.get_robot(call.session, call.request.path_params["robot"])
    expected = (PROJECT, project.id) if project is not None else (SYSTEM, None)
    if robot is None or (robot.level, robot.project_id) != expected:
        raise NotFound(GONE)
    return robot


async def _project_page(
    call: PageCall,
    project: Project,
    access: ProjectAccess,
    shown: Shown | None = None,
    status: int = 200,
) -> Response:
    page = page_number(call.request)
    rows, total = await robots.list_robots(
        call.session,
        level=PROJECT,
        project_id=project.id,
        offset=(page - 1) * PAGE_SIZE,
        limit=PAGE_SIZE,
    )
    response = call.project_tab(
        "project_robots.html",
        "robots",
        project,
        access,
        robots=[row_of(robot, _prefix(call)) for robot in rows],
        shown=shown,
        common=COMMON,
        manage=call.may(access, ("robot", "update")),
        create=call.may(access, ("robot", "create")),
        prefix=_prefix(call),
        pager=Pager(call.request, page, PAGE_SIZE, total),
    )
    response.status_code = status
    return response


async def project_robots(request: Request) -> Response:
    async with page_call(request) as call:
        project, access = await call.project(request.path_params["project"])
        call.require(access, ("robot", "list"), "see its robot accounts")
        response = await _project_page(call, project, access)
    return response


async def create_project_robot(request: Request) -> Response:
    name = request.path_params["project"]
    back = f"/projects/{name}/robots"
    async with page_call(request) as call:
        form = await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("robot", "create"), "create robot accounts")
        duration = _duration_of(form)
        if duration is None:
            return redirect(request, back, error="Enter a number of days, or choose Never.")
        access_list = _access_of(form)
        if not access_list:
            return redirect(request, back, error="Choose at least one permission.")
        permissions = [{"kind": PROJECT, "namespace": project.name, "access": access_list}]
        try:
            shown = await _created(call, form, PROJECT, duration, permissions)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        response = await _project_page(call, project, access, shown, status=201)
    return response


async def _created(
    call: PageCall,
    form: FormData,
    level: str,
    duration: int,
    permissions: list[dict[str, Any]],
) -> Shown:
    """Create the robot the form describes; its name and secret, to show once."""
    robot, secret = await operations.create_robot(
        call.session,
        call.viewer.principal,
        name=text_field(form, "name"),
        description=text_field(form, "description"),
        level=level,
        duration=duration,
        disable=False,
        permissions=permissions,
        prefix=_prefix(call),
        by=call.actor,
    )
    return Shown(operations.login_name(robot, _prefix(call)), secret)


async def _change(call: PageCall, robot: Robot, action: str) -> tuple[str, Shown | None]:
    """Do ``action`` to the robot: the notice to show, and a new secret to show once."""
    principal, prefix, by = call.viewer.principal, _prefix(call), call.actor
    name = operations.login_name(robot, prefix)
    if action == "delete":
        await operations.delete_robot(call.session, principal, robot, prefix=prefix, by=by)
        return f"The robot account {name} was deleted.", None
    if action == "refresh":
        secret = await operations.refresh_secret(
            call.session, principal, robot, "", prefix=prefix, by=by
        )
        return "", Shown(name, secret, refreshed=True)
    disabled = action == "disable"
    await operations.set_disabled(call.session, principal, robot, disabled, prefix=prefix, by=by)
    return f"{name} is {'disabled' if disabled else 'enabled'}.", None


async def change_project_robot(request: Request) -> Response:
    name, action = request.path_params["project"], request.path_params["action"]
    back = f"/projects/{name}/robots"
    if action not in ACTIONS:
        raise NotFound("No such action.")
    async with page_call(request) as call:
        await checked_form(request)
        project, access = await call.project(name)
        call.require(access, ("robot", "delete" if action == "delete" else "update"), "do that")
        robot = await _robot(call, project)
        try:
            notice, shown = await _change(call, robot, action)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        if shown is None:
            return redirect(request, back, notice=notice)
        response = await _project_page(call, project, access, shown)
    return response


# --- Administration: system robots --------------------------------------------------------


async def _admin_page(call: PageCall, shown: Shown | None = None, status: int = 200) -> Response:
    call.require_system("robot", "list")
    page = page_number(call.request)
    rows, total = await robots.list_robots(
        call.session, level=SYSTEM, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
    )
    return render(
        call.request,
        "admin_robots.html",
        status=status,
        nav="admin",
        admin_tab="robots",
        robots=[row_of(robot, _prefix(call)) for robot in rows],
        shown=shown,
        common=COMMON,
        prefix=_prefix(call),
        pager=Pager(call.request, page, PAGE_SIZE, total),
    )


async def admin_robots(request: Request) -> Response:
    async with page_call(request) as call:
        response = await _admin_page(call)
    return response


def _system_permissions(form: FormData) -> list[dict[str, Any]] | str:
    """The permissions the admin form asks for, or why they cannot be made."""
    access = _access_of(form)
    everywhere = form.get("all_projects") in ("on", "true", "1")
    names = [n for n in (p.strip() for p in text_field(form, "projects").split(",")) if n]
    namespaces = ["*"] if everywhere else list(dict.fromkeys(names))
    permissions: list[dict[str, Any]] = []
    if namespaces and not access:
        return "Choose at least one permission for the projects."
    if access and not namespaces:
        return "Name the projects (separated by commas), or choose all projects."
    for namespace in namespaces:
        permissions.append({"kind": PROJECT, "namespace": namespace, "access": access})
    if form.get("create_projects") in ("on", "true", "1"):
        create = [{"resource": "project", "action": "create"}]
        permissions.append({"kind": SYSTEM, "namespace": "/", "access": create})
    return permissions or "Choose at least one permission."


async def create_system_robot(request: Request) -> Response:
    back = "/admin/robots"
    async with page_call(request) as call:
        call.require_system("robot", "create")
        form = await checked_form(request)
        duration = _duration_of(form)
        if duration is None:
            return redirect(request, back, error="Enter a number of days, or choose Never.")
        permissions = _system_permissions(form)
        if isinstance(permissions, str):
            return redirect(request, back, error=permissions)
        try:
            shown = await _created(call, form, SYSTEM, duration, permissions)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        response = await _admin_page(call, shown, status=201)
    return response


async def change_system_robot(request: Request) -> Response:
    action = request.path_params["action"]
    back = "/admin/robots"
    if action not in ACTIONS:
        raise NotFound("No such action.")
    async with page_call(request) as call:
        call.require_system("robot", "delete" if action == "delete" else "update")
        await checked_form(request)
        robot = await _robot(call, None)
        try:
            notice, shown = await _change(call, robot, action)
        except HarborliteError as error:
            return redirect(request, back, error=sentence(error))
        if shown is None:
            return redirect(request, back, notice=notice)
        response = await _admin_page(call, shown)
    return response


ROUTES = [
    Route("/projects/{project}/robots", project_robots, methods=["GET"]),
    Route("/projects/{project}/robots", create_project_robot, methods=["POST"]),
    Route(
        "/projects/{project}/robots/{robot:int}/{action}", change_project_robot, methods=["POST"]
    ),
    Route("/admin/robots", admin_robots, methods=["GET"]),
    Route("/admin/robots", create_system_robot, methods=["POST"]),
    Route("/admin/robots/{robot:int}/{action}", change_system_robot, methods=["POST"]),
]
