"""``/users/current/permissions``: what the caller may do, from the one permission function.

With ``scope=/project/{id or name}`` the answer lists every (resource, action) of the project
policy that :func:`harborlite.auth.permissions.allowed` grants the caller; ``relative=true``
gives resources relative to the project (``repository``; the project itself is ``.``). Without
a scope it lists system-level permissions: everything for system administrators, project
creation and reading global labels for other users (harborlite lets everyone create projects).
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.context import caller, require_login
from harborlite.api.query import flag
from harborlite.auth.permissions import Principal, ProjectAccess, allowed, policy_resources
from harborlite.errors import BadRequest, NotFound
from harborlite.projects import queries as projects
from harborlite.services import services_of

SYSTEM_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("audit-log", "list"),
    ("project", "create"),
    ("project", "list"),
    ("user", "create"),
    ("user", "read"),
    ("user", "update"),
    ("user", "delete"),
    ("user", "list"),
    ("statistic", "read"),
    ("catalog", "read"),
    ("label", "create"),
    ("label", "read"),
    ("label", "update"),
    ("label", "delete"),
    ("label", "list"),
)

# Every signed-in user creates projects and reads the global labels.
SIGNED_IN_PERMISSIONS: tuple[tuple[str, str], ...] = (
    ("project", "create"),
    ("project", "list"),
    ("label", "read"),
    ("label", "list"),
)


def project_permissions(
    principal: Principal, access: ProjectAccess, relative: bool
) -> list[dict[str, str]]:
    by_resource = policy_resources()
    result: list[dict[str, str]] = []
    for resource in sorted(by_resource):
        for action in sorted(allowed(principal, access, resource, by_resource[resource])):
            name: str = "." if resource == "project" else resource
            if not relative:
                name = f"/project/{access.project_id}" + ("" if name == "." else f"/{name}")
            result.append({"resource": name, "action": action})
    return result


def system_permissions(principal: Principal, relative: bool) -> list[dict[str, str]]:
    granted = SYSTEM_PERMISSIONS if principal.sysadmin else SIGNED_IN_PERMISSIONS
    return [
        {"resource": resource if relative else f"/system/{resource}", "action": action}
        for resource, action in granted
    ]


async def current_permissions(request: Request) -> Response:
    services = services_of(request)
    scope = request.query_params.get("scope") or ""
    relative = flag(request, "relative", False)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        body: list[dict[str, Any]]
        if scope in ("", "/system", "/"):
            body = list(system_permissions(principal, relative))
        else:
            parts = scope.strip("/").split("/")
            if len(parts) != 2 or parts[0] != "project" or not parts[1]:
                raise BadRequest(f"unsupported scope {scope!r}: use /project/{{id}} or /system")
            ident = parts[1]
            project = None
            if ident.isdigit():
                project = await projects.get_project(session, int(ident))
            if project is None:
                project = await projects.get_project_by_name(session, ident)
            if project is None:
                raise NotFound(f"project {ident} not found")
            access = await projects.project_access(session, principal, project)
            body = list(project_permissions(principal, access, relative))
    return JSONResponse(body)


ROUTES = [Route("/users/current/permissions", current_permissions, methods=["GET"])]
