"""``/audit-logs`` (system admins) and ``/projects/{p}/logs`` (project admins)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.context import caller, check, project_from_path, require_admin
from harborlite.api.paging import page_of, paged_response
from harborlite.api.render import audit_json
from harborlite.audit.queries import list_logs
from harborlite.services import services_of


async def audit_logs(request: Request) -> Response:
    services = services_of(request)
    page = page_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        require_admin(principal)
        entries, total = await list_logs(session, offset=page.offset, limit=page.size)
    return paged_response(request, [audit_json(e) for e in entries], total, page)


async def project_logs(request: Request) -> Response:
    services = services_of(request)
    page = page_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal, "project_name")
        check(principal, access, "log", "list")
        entries, total = await list_logs(
            session, project_id=project.id, offset=page.offset, limit=page.size
        )
    return paged_response(request, [audit_json(e) for e in entries], total, page)


ROUTES = [
    Route("/audit-logs", audit_logs, methods=["GET"]),
    Route("/projects/{project_name}/logs", project_logs, methods=["GET"]),
]
