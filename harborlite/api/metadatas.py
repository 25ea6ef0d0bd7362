"""``/projects/{p}/metadatas/``: a project's settings, as Harbor keeps them (strings).

Every member (anyone, on a public project) may read them; ProjectAdmins change them. Names and
values are checked as Harbor checks them; ``public`` is also the project's public flag.
"""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.context import caller, check, json_body, origin, project_from_path
from harborlite.audit.events import DELETE, UPDATE, AuditEvent, record
from harborlite.db.models import Project
from harborlite.errors import BadRequest, Conflict, NotFound
from harborlite.projects import queries as projects
from harborlite.services import services_of

BOOLEAN = frozenset(
    {
        "public",
        "enable_content_trust",
        "enable_content_trust_cosign",
        "prevent_vul",
        "auto_scan",
        "auto_sbom_generation",
        "reuse_sys_cve_allowlist",
    }
)
SEVERITIES = ("none", "low", "medium", "high", "critical")
NUMERIC = frozenset({"retention_id", "proxy_speed_kb"})
KNOWN = BOOLEAN | NUMERIC | {"severity"}


def validated(body: dict[str, Any]) -> dict[str, str]:
    """Harbor's metadata names with values of the right kind, normalised."""
    if not body:
        raise BadRequest("no metadata given")
    result: dict[str, str] = {}
    for name, value in body.items():
        if name not in KNOWN:
            raise BadRequest(f"invalid metadata name {name!r}; known: {', '.join(sorted(KNOWN))}")
        if isinstance(value, bool):
            value = "true" if value else "false"
        if not isinstance(value, str):
            raise BadRequest(f"the value of {name} must be a string")
        if name in BOOLEAN:
            if value.lower() not in ("true", "false"):
                raise BadRequest(f'{name} must be "true" or "false", got {value!r}')
            value = value.lower()
        elif name == "severity":
            if value.lower() not in SEVERITIES:
                raise BadRequest(f"severity must be one of {', '.join(SEVERITIES)}")
            value = value.lower()
        elif not value.lstrip("-").isdigit():
            raise BadRequest(f"{name} must be a whole number, got {value!r}")
        result[name] = value
    return result


def metadata_of(project: Project) -> dict[str, str]:
    metadata = {k: str(v) for k, v in (project.project_metadata or {}).items()}
    if "public" in metadata:
        metadata["public"] = "true" if project.public else "false"
    return metadata


def _audit(request: Request, username: str, operation: str, project: Project, what: str) -> Any:
    return AuditEvent(
        username,
        operation,
        "project",
        project.name,
        origin(request),
        project_id=project.id,
        detail=what,
    )


async def list_metadata(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, _ = await project_from_path(request, session, principal)
        return JSONResponse(metadata_of(project))


async def add_metadata(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "project", "update")
        metadata = validated(await json_body(request))
        existing = metadata_of(project)
        taken = sorted(name for name in metadata if name in existing)
        if taken:
            raise Conflict(f"metadata {', '.join(taken)} already set: update it with PUT")
        await projects.set_metadata(session, project, metadata)
        record(session, _audit(request, principal.username, UPDATE, project, f"add {metadata}"))
        await session.commit()
    return Response(status_code=200)


async def get_metadata(request: Request) -> Response:
    name = request.path_params["meta_name"]
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, _ = await project_from_path(request, session, principal)
        metadata = metadata_of(project)
    if name not in metadata:
        raise NotFound(f"project {project.name} has no metadata {name}")
    return JSONResponse({name: metadata[name]})


async def update_metadata(request: Request) -> Response:
    name = request.path_params["meta_name"]
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "project", "update")
        body = await json_body(request)
        if set(body) != {name}:
            raise BadRequest(
                f"the body must set exactly the metadata in the path: {{{name!r}: ...}}"
            )
        metadata = validated(body)
        if name not in metadata_of(project):
            raise NotFound(f"project {project.name} has no metadata {name}: add it with POST")
        await projects.set_metadata(session, project, metadata)
        record(session, _audit(request, principal.username, UPDATE, project, f"set {metadata}"))
        await session.commit()
    return Response(status_code=200)


async def delete_metadata(request: Request) -> Response:
    name = request.path_params["meta_name"]
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        project, access = await project_from_path(request, session, principal)
        check(principal, access, "project", "update")
        if name not in metadata_of(project):
            raise NotFound(f"project {project.name} has no metadata {name}")
        await projects.delete_metadata(session, project, name)
        record(session, _audit(request, principal.username, DELETE, project, f"metadata {name}"))
        await session.commit()
    return Response(status_code=200)


BASE = "/projects/{project_name_or_id}/metadatas/"

ROUTES = [
    Route(BASE, list_metadata, methods=["GET"]),
    Route(BASE, add_metadata, methods=["POST"]),
    Route(BASE + "{meta_name}", get_metadata, methods=["GET"]),
    Route(BASE + "{meta_name}", update_metadata, methods=["PUT"]),
    Route(BASE + "{meta_name}", delete_metadata, methods=["DELETE"]),
]
