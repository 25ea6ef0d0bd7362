"""``/users/current/permissions``: what the caller may do, from the one permission function.

With ``scope=/project/{id or name}`` the answer lists every (resource, action) of the project
policy that :func:`harborlite.auth.permissions.allowed` grants the caller; ``relative=true``
gives resources relative to the project (``repository``; the project itself is ``.``). Without
a scope it lists the system-level permissions :func:`harborlite.auth.permissions.system_permissions`
grants: everything for system administrators, project creation and reading global labels for
other users (harborlite lets everyone create projects). A project the caller may not read is
answered as a missing one (404): nobody learns that a private project exists.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.call import api_call
from harborlite.api.query import flag
from harborlite.auth import permissions
from harborlite.auth.permissions import Principal, ProjectAccess, allowed, can, policy_resources
from harborlite.errors import BadRequest, NotFound


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
    return [
        {"resource": resource if relative else f"/system/{resource}", "action": action}
        for resource, action in permissions.system_permissions(principal)
    ]


async def current_permissions(request: Request) -> Response:
    scope = request.query_params.get("scope") or ""
    relative = flag(request, "relative", False)
    async with api_call(request) as call:
        call.require_login()
        body: list[dict[str, Any]]
        if scope in ("", "/system", "/"):
            body = system_permissions(call.principal, relative)
        else:
            parts = scope.strip("/").split("/")
            if len(parts) != 2 or parts[0] != "project" or not parts[1]:
                raise BadRequest(f"unsupported scope {scope!r}: use /project/{{id}} or /system")
            found = await call.find_project(parts[1])
            if not can(call.principal, found.access, "project", "read"):
                # a project the caller may not see answers as one that is not there
                raise NotFound(f"project {parts[1]} not found")
            body = project_permissions(call.principal, found.access, relative)
    return JSONResponse(body)


ROUTES = [Route("/users/current/permissions", current_permissions, methods=["GET"])]
