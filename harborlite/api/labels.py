"""``/labels``: Harbor's global labels (system administrators) and project labels (``scope=p``).

Global labels are made and changed by system administrators and read by anyone signed in;
project labels follow the project's roles (create/update/delete: ProjectAdmin, Maintainer;
read/list: ProjectAdmin, Maintainer, Developer, Guest).
"""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.context import (
    caller,
    check,
    deny,
    field_str,
    json_body,
    origin,
    path_int,
    require_login,
)
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render import label_json
from harborlite.audit.events import CREATE, DELETE, UPDATE, AuditEvent, record
from harborlite.auth.permissions import Action, Principal
from harborlite.db.models import Label
from harborlite.errors import BadRequest, Conflict, NotFound
from harborlite.labels import queries as labels
from harborlite.labels.queries import GLOBAL, PROJECT
from harborlite.projects import queries as projects
from harborlite.services import services_of

FIELDS = {
    "id": Field(Label.id, "int"),
    "name": Field(Label.name),
    "description": Field(Label.description),
    "color": Field(Label.color),
    "creation_time": Field(Label.creation_time, "time"),
    "update_time": Field(Label.update_time, "time"),
}
MAX_NAME = 128
MAX_COLOR = 16


async def authorize(
    session: AsyncSession, principal: Principal, scope: str, project_id: int | None, action: Action
) -> str:
    """Check ``action`` on labels of ``scope`` (and project); the project's name, or ``""``."""
    require_login(principal)
    if scope == GLOBAL:
        if action in ("read", "list") or principal.sysadmin:
            return ""
        raise deny(principal, f"{action} global labels (system administrators only)")
    project = await projects.get_project(session, project_id or 0)
    if project is None:
        raise NotFound(f"project {project_id} not found")
    access = await projects.project_access(session, principal, project)
    check(principal, access, "label", action)
    return project.name


def _text(body: dict[str, Any], key: str, default: str, limit: int) -> str:
    value = field_str(body, key, default=default)
    if len(value) > limit:
        raise BadRequest(f"{key} must be at most {limit} characters")
    return value


def _name(body: dict[str, Any], default: str = "") -> str:
    name = _text(body, "name", default, MAX_NAME).strip()
    if not name:
        raise BadRequest("name is required")
    return name


def _audit_name(label: Label, project_name: str) -> str:
    return f"{project_name}/{label.name}" if project_name else label.name


async def _label_in_path(request: Request, session: AsyncSession) -> Label:
    label = await labels.get_label(session, path_int(request, "label_id"))
    if label is None:
        raise NotFound(f"label {request.path_params['label_id']} not found")
    return label


async def create_label(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        body = await json_body(request)
        scope = field_str(body, "scope", default=GLOBAL)
        if scope not in (GLOBAL, PROJECT):
            raise BadRequest(f"scope must be g (global) or p (project), got {scope!r}")
        project_id: int | None = None
        if scope == PROJECT:
            raw = body.get("project_id")
            if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
                raise BadRequest("project_id (a positive whole number) is required for scope p")
            project_id = raw
        project_name = await authorize(session, principal, scope, project_id, "create")
        name = _name(body)
        if await labels.find_label(session, name, scope, project_id) is not None:
            raise Conflict(f"label {name} already exists in this scope")
        label = await labels.create_label(
            session,
            name=name,
            description=_text(body, "description", "", 1024),
            color=_text(body, "color", "", MAX_COLOR),
            scope=scope,
            project_id=project_id,
        )
        record(
            session,
            AuditEvent(
                principal.username,
                CREATE,
                "label",
                _audit_name(label, project_name),
                origin(request),
                project_id=project_id,
            ),
        )
        await session.commit()
        location = f"/api/v2.0/labels/{label.id}"
    return Response(status_code=201, headers={"Location": location})


async def list_labels(request: Request) -> Response:
    services = services_of(request)
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    scope = request.query_params.get("scope") or GLOBAL
    if scope not in (GLOBAL, PROJECT):
        raise BadRequest(f"scope must be g (global) or p (project), got {scope!r}")
    project_id: int | None = None
    if scope == PROJECT:
        raw = request.query_params.get("project_id", "")
        if not raw.isdigit() or int(raw) <= 0:
            raise BadRequest("project_id (a positive whole number) is required when scope is p")
        project_id = int(raw)
    async with services.sessions() as session:
        principal = await caller(request, session)
        await authorize(session, principal, scope, project_id, "list")
        rows, total = await labels.list_labels(
            session,
            scope=scope,
            project_id=project_id,
            name=request.query_params.get("name"),
            conditions=where,
            order_by=[*order, Label.id] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [label_json(label) for label in rows], total, page)


async def get_label(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        label = await _label_in_path(request, session)
        await authorize(session, principal, label.scope, label.project_id, "read")
    return JSONResponse(label_json(label))


async def update_label(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        label = await _label_in_path(request, session)
        project_name = await authorize(session, principal, label.scope, label.project_id, "update")
        body = await json_body(request)
        name = _name(body, label.name)
        if name != label.name:
            other = await labels.find_label(session, name, label.scope, label.project_id)
            if other is not None and other.id != label.id:
                raise Conflict(f"label {name} already exists in this scope")
        await labels.update_label(
            session,
            label,
            name=name,
            description=_text(body, "description", label.description, 1024),
            color=_text(body, "color", label.color, MAX_COLOR),
        )
        record(
            session,
            AuditEvent(
                principal.username,
                UPDATE,
                "label",
                _audit_name(label, project_name),
                origin(request),
                project_id=label.project_id,
            ),
        )
        await session.commit()
    return Response(status_code=200)


async def delete_label(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_login(principal)
        label = await _label_in_path(request, session)
        project_name = await authorize(session, principal, label.scope, label.project_id, "delete")
        resource, project_id = _audit_name(label, project_name), label.project_id
        await labels.delete_label(session, label)
        record(
            session,
            AuditEvent(
                principal.username,
                DELETE,
                "label",
                resource,
                origin(request),
                project_id=project_id,
            ),
        )
        await session.commit()
    return Response(status_code=200)


ROUTES = [
    Route("/labels", list_labels, methods=["GET"]),
    Route("/labels", create_label, methods=["POST"]),
    Route("/labels/{label_id}", get_label, methods=["GET"]),
    Route("/labels/{label_id}", update_label, methods=["PUT"]),
    Route("/labels/{label_id}", delete_label, methods=["DELETE"]),
]
