"""``/audit-logs`` and ``/projects/{p}/logs``.

``/audit-logs`` shows everything to system administrators and, to other signed-in users, the
entries of the projects they administer, as Harbor does. ``q`` filters on operation, resource,
resource_type, username and op_time (``op_time=[a~b]``).
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.call import api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render import audit_json
from harborlite.audit.queries import list_logs
from harborlite.auth.permissions import system_can
from harborlite.db.models import AuditLog
from harborlite.projects import queries as projects

FIELDS = {
    "id": Field(AuditLog.id, "int"),
    "operation": Field(AuditLog.operation),
    "resource": Field(AuditLog.resource),
    "resource_type": Field(AuditLog.resource_type),
    "username": Field(AuditLog.username),
    "op_time": Field(AuditLog.op_time, "time"),
    "project_id": Field(AuditLog.project_id, "int"),
}


async def audit_logs(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        call.require_login()
        if not system_can(call.principal, "audit-log", "list"):
            # the projects whose log the caller may list: POLICY[("log", "list")], the admins
            administered = await projects.admin_project_ids(
                call.session, call.principal.user_id or 0
            )
            where.append(AuditLog.project_id.in_(administered))
        entries, total = await list_logs(
            call.session,
            conditions=where,
            order_by=[*order, AuditLog.id.desc()] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [audit_json(e) for e in entries], total, page)


async def project_logs(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        found = await call.project(("log", "list"), "project_name")
        entries, total = await list_logs(
            call.session,
            project_id=found.project.id,
            conditions=where,
            order_by=[*order, AuditLog.id.desc()] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [audit_json(e) for e in entries], total, page)


ROUTES = [
    Route("/audit-logs", audit_logs, methods=["GET"]),
    Route("/projects/{project_name}/logs", project_logs, methods=["GET"]),
]
