"""Who calls the API, and the small checks every handler shares."""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request

from harborlite.api.call import caller as caller  # handlers not yet on ApiCall
from harborlite.api.call import origin_of as origin_of
from harborlite.auth.permissions import Action, Principal, ProjectAccess, Resource, can
from harborlite.db.models import Project
from harborlite.errors import BadRequest, Forbidden, NotFound, Unauthorized
from harborlite.projects import queries as projects

origin = origin_of  # handlers not yet on ApiCall


def require_login(principal: Principal) -> None:
    if principal.anonymous:
        raise Unauthorized("authentication required")


def require_admin(principal: Principal) -> None:
    require_login(principal)
    if not principal.sysadmin:
        raise Forbidden("only system administrators may do this")


def deny(principal: Principal, what: str) -> Exception:
    """401 for anonymous callers, 403 for signed-in ones, as Harbor distinguishes them."""
    if principal.anonymous:
        return Unauthorized(f"authentication required to {what}")
    return Forbidden(f"{principal.username} is not allowed to {what}")


async def project_from_path(
    request: Request, session: AsyncSession, principal: Principal, key: str = "project_name_or_id"
) -> tuple[Project, ProjectAccess]:
    """The project named (or numbered) in the path, when the caller may read it.

    404 when there is no such project; 401 (anonymous) or 403 (signed in) when the caller may not
    read it, as Harbor answers.

    ``X-Is-Resource-Name: true`` says a number is a name, as Harbor's header does.
    """
    ident = request.path_params[key]
    # ``{project_name}`` paths take a name only; ``{project_name_or_id}`` a number or a name.
    by_name = key == "project_name" or (
        request.headers.get("x-is-resource-name", "").lower() == "true"
    )
    project = None
    if ident.isdigit() and not by_name:
        project = await projects.get_project(session, int(ident))
    if project is None:
        project = await projects.get_project_by_name(session, ident)
    if project is None:
        raise NotFound(f"project {ident} not found")
    access = await projects.project_access(session, principal, project)
    if not can(principal, access, "project", "read"):
        raise deny(principal, f"read project {project.name}")
    return project, access


def check(principal: Principal, access: ProjectAccess, resource: Resource, action: Action) -> None:
    if not can(principal, access, resource, action):
        raise deny(principal, f"{action} {resource} in project {access.name}")


MAX_JSON_DEPTH = 32  # Harbor's bodies nest 3 levels; json.loads itself gives up near 1000


async def json_body(request: Request) -> dict[str, Any]:
    """The body as a JSON object: 400 when it is empty, not JSON, not an object, or nested
    deeper than :data:`MAX_JSON_DEPTH` (its size is bounded by ``http/guard.py``)."""
    raw = await request.body()
    if not raw:
        raise BadRequest("request body is empty: a JSON object is required")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise _too_deep() from None
    except (ValueError, UnicodeDecodeError):
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(value, dict):
        raise BadRequest("request body must be a JSON object")
    if _depth_over(value, MAX_JSON_DEPTH):
        raise _too_deep()
    return value


def _too_deep() -> BadRequest:
    return BadRequest(f"request body nests deeper than {MAX_JSON_DEPTH} levels")


def _depth_over(value: object, limit: int) -> bool:
    """Whether arrays and objects in ``value`` nest more than ``limit`` deep (without
    recursion: the value may be as deep as json.loads allows)."""
    pending: list[tuple[object, int]] = [(value, 1)]
    while pending:
        item, depth = pending.pop()
        if isinstance(item, dict):
            children: Iterable[object] = item.values()
        elif isinstance(item, list):
            children = item
        else:
            continue
        if depth > limit:
            return True
        pending.extend((child, depth + 1) for child in children)
    return False


def field_str(body: dict[str, Any], key: str, *, required: bool = False, default: str = "") -> str:
    value = body.get(key)
    if value is None:
        if required:
            raise BadRequest(f"{key} is required")
        return default
    if not isinstance(value, str):
        raise BadRequest(f"{key} must be a string")
    return value


def field_bool(body: dict[str, Any], key: str, default: bool = False) -> bool:
    value = body.get(key)
    if value is None:
        return default
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise BadRequest(f"{key} must be a boolean")


def path_int(request: Request, key: str) -> int:
    raw = request.path_params[key]
    try:
        value = int(raw)
    except (TypeError, ValueError):
        raise BadRequest(f"{key} must be a whole number, got {raw!r}") from None
    if value <= 0:
        raise BadRequest(f"{key} must be positive")
    return value
