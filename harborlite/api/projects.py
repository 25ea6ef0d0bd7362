"""``/projects``: create, list, read, update, delete."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.accounts import queries as accounts
from harborlite.api.body import field_str, json_body
from harborlite.api.call import api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, flag, parse_sort, q_of
from harborlite.api.render import project_json
from harborlite.auth.permissions import Role, can
from harborlite.db.models import Project
from harborlite.errors import BadRequest
from harborlite.events.bus import DELETE_PROJECT, ArtifactEvent
from harborlite.projects import operations
from harborlite.projects import queries as projects
from harborlite.proxycache import operations as proxy_cache
from harborlite.proxycache import queries as proxies
from harborlite.quotas import operations as quotas
from harborlite.quotas.usage import upload_window
from harborlite.vulnerabilities import operations as allowlists
from harborlite.vulnerabilities import queries as allowlist_rows
from harborlite.vulnerabilities.allowlists import allowlist_json, checked_allowlist
from harborlite.vulnerabilities.models import CveAllowlist

FIELDS = {
    "project_id": Field(Project.id, "int"),
    "name": Field(Project.name),
    "public": Field(Project.public, "bool"),
    "owner_id": Field(Project.owner_id, "int"),
    "creation_time": Field(Project.creation_time, "time"),
    "update_time": Field(Project.update_time, "time"),
}


SCAN_SETTINGS = frozenset({"prevent_vul", "severity", "auto_scan", "reuse_sys_cve_allowlist"})


def metadata_of(body: dict[str, object]) -> dict[str, str]:
    raw = body.get("metadata") or {}
    if not isinstance(raw, dict):
        raise BadRequest("metadata must be an object")
    metadata: dict[str, str] = {}
    for key, value in raw.items():
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise BadRequest(f"metadata.{key} must be a string")
        metadata[str(key)] = value
    if "public" in metadata and metadata["public"].lower() not in ("true", "false"):
        raise BadRequest('metadata.public must be "true" or "false"')
    for name in SCAN_SETTINGS & set(metadata):  # what the pull policy and the scans read
        metadata[name] = operations.checked_settings({name: metadata[name]})[name]
    return metadata


async def create_project(request: Request) -> Response:
    async with api_call(request) as call:
        call.require_system("project", "create")
        body = await json_body(request)
        name = field_str(body, "project_name", required=True)
        metadata = metadata_of(body)
        public = metadata.get("public", "").lower() == "true"
        if isinstance(body.get("public"), bool) and "public" not in metadata:
            public = bool(body["public"])
        limit = quotas.requested_limit(body.get("storage_limit"), sysadmin=call.principal.sysadmin)
        if body.get("cve_allowlist") is not None:  # refused before anything is written
            checked_allowlist(body["cve_allowlist"])
        registry_id = proxy_cache.registry_id_of(body.get("registry_id"))
        proxy = None
        if registry_id is not None:  # checked before anything is created
            proxy = await proxy_cache.checked_request(
                call.session,
                sysadmin=call.principal.sysadmin and call.principal.robot is None,
                registry_id=registry_id,
                metadata=metadata,
            )
        project = await operations.create_project(
            call.session,
            name=name,
            public=public,
            owner=await accounts.get_user(call.session, call.principal.user_id or 0),
            metadata=metadata,
            by=call.actor,
            robot_id=call.principal.robot.robot_id if call.principal.robot else None,
        )
        await quotas.create_project_quota(call.session, project.id, limit)
        if body.get("cve_allowlist") is not None:
            await allowlists.set_project_allowlist(
                call.session, project, body["cve_allowlist"], by=call.actor
            )
        if proxy is not None:
            await proxy_cache.make_proxy(call.session, project, proxy, by=call.actor)
        by_name = request.headers.get("x-resource-name-in-location", "").lower() == "true"
        location = f"/api/v2.0/projects/{project.name if by_name else project.id}"
    return Response(status_code=201, headers={"Location": location})


async def head_projects(request: Request) -> Response:
    """200 when the name is taken, else 404. Anonymous callers learn it only of the projects
    they may read (public ones): a private project answers them as a missing one does."""
    name = request.query_params.get("project_name")
    if not name:
        raise BadRequest("project_name is required")
    async with api_call(request) as call:
        project = await projects.get_project_by_name(call.session, name)
        if project is not None and call.principal.anonymous:
            access = await projects.project_access(call.session, call.principal, project)
            if not can(call.principal, access, "project", "read"):
                project = None
    return Response(status_code=200 if project is not None else 404)


async def list_projects(request: Request) -> Response:
    page = page_of(request)
    public_param = request.query_params.get("public")
    public = None if public_param in (None, "") else flag(request, "public", False)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    with_detail = flag(request, "with_detail", True)
    async with api_call(request) as call:
        rows, total = await projects.list_projects(
            call.session,
            call.principal,
            name=request.query_params.get("name"),
            public=public,
            owner=request.query_params.get("owner") or None,
            conditions=where,
            order_by=[*order, Project.id] if order else (),
            offset=page.offset,
            limit=page.size,
        )
        ids = [project.id for project, _ in rows]
        owner_ids = [p.owner_id for p, _ in rows if p.owner_id]
        owners = await projects.owner_names(call.session, owner_ids)
        counts = await projects.repository_counts(call.session, ids) if with_detail else {}
        cve_lists = await allowlist_rows.project_allowlists(call.session, ids)
        registries = await proxies.registries_of(call.session, ids)
    items = [
        project_json(
            project,
            owner_name=owners.get(project.owner_id or 0, ""),
            role=role,
            repo_count=counts.get(project.id, 0),
            cve_allowlist=_allowlist_json(project, cve_lists.get(project.id)),
            registry_id=registries.get(project.id, 0),
        )
        for project, role in rows
    ]
    return paged_response(request, items, total, page)


async def get_project(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project()
        project, session = found.project, call.session
        owner = await accounts.get_user(session, project.owner_id) if project.owner_id else None
        body = project_json(
            project,
            owner_name=owner.username if owner else "",
            role=found.access.role,
            repo_count=await projects.repository_count(session, project.id),
            cve_allowlist=_allowlist_json(
                project, await allowlist_rows.project_allowlist(session, project.id)
            ),
            registry_id=await proxies.registry_of(session, project.id) or 0,
        )
    return JSONResponse(body)


async def update_project(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        body = await json_body(request)
        metadata = metadata_of(body)
        if isinstance(body.get("public"), bool) and "public" not in metadata:
            metadata["public"] = "true" if body["public"] else "false"
        if body.get("cve_allowlist") is not None:  # checked whole before anything is written
            checked_allowlist(body["cve_allowlist"])
        await operations.update_metadata(call.session, found.project, metadata, by=call.actor)
        if body.get("cve_allowlist") is not None:
            await allowlists.set_project_allowlist(
                call.session, found.project, body["cve_allowlist"], by=call.actor
            )
    return Response(status_code=200)


def _allowlist_json(project: Project, row: CveAllowlist | None) -> dict[str, Any] | None:
    """The project's own CVE allowlist as Harbor shows it (None: the empty default)."""
    if row is None:
        return None
    return allowlist_json(
        row_id=row.id,
        project_id=project.id,
        items=list(row.items or []),
        expires_at=row.expires_at,
        creation_time=row.creation_time,
        update_time=row.update_time,
    )


async def delete_project(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("project", "delete"))
        await operations.delete_project(call.session, found.project, by=call.actor)
    name, who = found.project.name, call.principal.username
    call.services.events.emit(ArtifactEvent(DELETE_PROJECT, name, "", None, None, who))
    return Response(status_code=200)


async def project_deletable(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("project", "delete"))
        message = await operations.undeletable_because(call.session, found.project)
    return JSONResponse({"deletable": not message, "message": message})


async def project_summary(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project()
        project, access, session = found.project, found.access, call.session
        summary: dict[str, Any] = {
            "repo_count": await projects.repository_count(session, project.id)
        }
        if can(call.principal, access, "member", "list"):
            members = await projects.member_counts(session, project.id)
            for role, key in SUMMARY_ROLE_KEYS.items():
                summary[key] = members.get(role, 0)
        if can(call.principal, access, "quota", "read"):
            window = upload_window(call.services.settings.gc_time_window_minutes)
            quota, used = await quotas.project_quota(session, project.id, window=window)
            summary["quota"] = {"hard": {"storage": quota.hard_storage}, "used": {"storage": used}}
    return JSONResponse(summary)


SUMMARY_ROLE_KEYS = {
    Role.PROJECT_ADMIN: "project_admin_count",
    Role.MAINTAINER: "maintainer_count",
    Role.DEVELOPER: "developer_count",
    Role.GUEST: "guest_count",
    Role.LIMITED_GUEST: "limited_guest_count",
}

ROUTES = [
    # HEAD first: a GET route answers HEAD too
    Route("/projects", head_projects, methods=["HEAD"]),
    Route("/projects", list_projects, methods=["GET"]),
    Route("/projects", create_project, methods=["POST"]),
    Route("/projects/{project_name_or_id}", get_project, methods=["GET"]),
    Route("/projects/{project_name_or_id}", update_project, methods=["PUT"]),
    Route("/projects/{project_name_or_id}", delete_project, methods=["DELETE"]),
    Route("/projects/{project_name_or_id}/summary", project_summary, methods=["GET"]),
    Route("/projects/{project_name_or_id}/_deletable", project_deletable, methods=["GET"]),
]
