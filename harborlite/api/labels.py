"""``/labels``: Harbor's global labels (system administrators) and project labels (``scope=p``).

Global labels are made and changed by system administrators and read by anyone signed in;
project labels follow the project's roles (create/update/delete: ProjectAdmin, Maintainer;
read/list: ProjectAdmin, Maintainer, Developer, Guest).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import field_str, json_body, path_int
from harborlite.api.call import ApiCall, api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render import label_json
from harborlite.auth.permissions import Action, ProjectAccess
from harborlite.db.models import Label
from harborlite.errors import BadRequest, NotFound
from harborlite.labels import operations
from harborlite.labels import queries as labels
from harborlite.labels.queries import GLOBAL, PROJECT
from harborlite.projects import queries as projects

FIELDS = {
    "id": Field(Label.id, "int"),
    "name": Field(Label.name),
    "description": Field(Label.description),
    "color": Field(Label.color),
    "creation_time": Field(Label.creation_time, "time"),
    "update_time": Field(Label.update_time, "time"),
}


def _scope(raw: object) -> str:
    if raw not in (GLOBAL, PROJECT):
        raise BadRequest(f"scope must be g (global) or p (project), got {raw!r}")
    return str(raw)


async def _access(call: ApiCall, scope: str, project_id: int | None) -> ProjectAccess | None:
    """None for global labels; the caller's access to the project of project labels (404)."""
    if scope == GLOBAL:
        return None
    project = await projects.get_project(call.session, project_id or 0)
    if project is None:
        raise NotFound(f"project {project_id} not found")
    return await projects.project_access(call.session, call.principal, project)


async def _authorized(
    call: ApiCall, scope: str, project_id: int | None, action: Action
) -> ProjectAccess | None:
    call.require_login()
    access = await _access(call, scope, project_id)
    operations.require_right(call.principal, access, action)
    return access


async def _label_in_path(call: ApiCall, action: Action) -> tuple[Label, ProjectAccess | None]:
    call.require_login()
    label = await labels.get_label(call.session, path_int(call.request, "label_id"))
    if label is None:
        raise NotFound(f"label {call.request.path_params['label_id']} not found")
    return label, await _authorized(call, label.scope, label.project_id, action)


async def create_label(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_login()
        body = await json_body(request)
        scope = _scope(field_str(body, "scope", default=GLOBAL))
        project_id: int | None = None
        if scope == PROJECT:
            raw = body.get("project_id")
            if isinstance(raw, bool) or not isinstance(raw, int) or raw <= 0:
                raise BadRequest("project_id (a positive whole number) is required for scope p")
            project_id = raw
        access = await _authorized(call, scope, project_id, "create")
        label = await operations.create_label(
            call.session,
            call.principal,
            access,
            name=field_str(body, "name"),
            description=field_str(body, "description"),
            color=field_str(body, "color"),
            by=call.actor,
        )
        location = f"/api/v2.0/labels/{label.id}"
    return Response(status_code=201, headers={"Location": location})


async def list_labels(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    scope = _scope(request.query_params.get("scope") or GLOBAL)
    project_id: int | None = None
    if scope == PROJECT:
        raw = request.query_params.get("project_id", "")
        if not raw.isdigit() or int(raw) <= 0:
            raise BadRequest("project_id (a positive whole number) is required when scope is p")
        project_id = int(raw)
    async with api_call(request) as call:
        await _authorized(call, scope, project_id, "list")
        rows, total = await labels.list_labels(
            call.session,
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
    async with api_call(request) as call:
        label, _ = await _label_in_path(call, "read")
    return JSONResponse(label_json(label))


async def update_label(request: Request) -> Response:
    async with api_call(request) as call:
        label, access = await _label_in_path(call, "update")
        body = await json_body(request)
        await operations.update_label(
            call.session,
            call.principal,
            access,
            label,
            name=field_str(body, "name", default=label.name),
            description=field_str(body, "description", default=label.description),
            color=field_str(body, "color", default=label.color),
            by=call.actor,
        )
    return Response(status_code=200)


async def delete_label(request: Request) -> Response:
    async with api_call(request) as call:
        label, access = await _label_in_path(call, "delete")
        await operations.delete_label(call.session, call.principal, access, label, by=call.actor)
    return Response(status_code=200)


ROUTES = [
    Route("/labels", list_labels, methods=["GET"]),
    Route("/labels", create_label, methods=["POST"]),
    Route("/labels/{label_id}", get_label, methods=["GET"]),
    Route("/labels/{label_id}", update_label, methods=["PUT"]),
    Route("/labels/{label_id}", delete_label, methods=["DELETE"]),
]
