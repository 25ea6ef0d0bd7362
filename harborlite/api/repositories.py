"""``/repositories`` and ``/projects/{p}/repositories``: list, read, describe, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.context import caller, check, json_body, origin, project_from_path
from harborlite.api.locate import repository_of, repository_path
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render_artifacts import repository_json
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.deletion import delete_repository
from harborlite.audit.events import UPDATE, AuditEvent, record
from harborlite.db.models import Repository
from harborlite.errors import BadRequest
from harborlite.projects import queries as projects
from harborlite.services import services_of

FIELDS = {
    "id": Field(Repository.id, "int"),
    "name": Field(Repository.name),
    "project_id": Field(Repository.project_id, "int"),
    "pull_count": Field(Repository.pull_count, "int"),
    "creation_time": Field(Repository.creation_time, "time"),
    "update_time": Field(Repository.update_time, "time"),
}


async def _list(request: Request, *, scoped_to_project: bool) -> Response:
    services = services_of(request)
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with services.sessions() as session:
        principal = await caller(request, session)
        project_id = None
        visible = None
        if scoped_to_project:
            project, access = await project_from_path(request, session, principal, "project_name")
            check(principal, access, "repository", "list")
            project_id = project.id
        else:
            visible = projects.visible_condition(principal)
        rows, total = await artifacts.list_repositories(
            session,
            visible=visible,
            project_id=project_id,
            conditions=where,
            order_by=[*order, Repository.id.desc()] if order else (),
            offset=page.offset,
            limit=page.size,
        )
        counts = await artifacts.artifact_counts(session, [r.id for r in rows])
    items = [repository_json(r, counts.get(r.id, 0)) for r in rows]
    return paged_response(request, list(items), total, page)


async def list_all_repositories(request: Request) -> Response:
    return await _list(request, scoped_to_project=False)


async def list_repositories(request: Request) -> Response:
    return await _list(request, scoped_to_project=True)


async def get_repository(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "repository", "read")
        repository = await repository_of(session, path)
        counts = await artifacts.artifact_counts(session, [repository.id])
    return JSONResponse(repository_json(repository, counts.get(repository.id, 0)))


async def update_repository(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "repository", "update")
        repository = await repository_of(session, path)
        body = await json_body(request)
        description = body.get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise BadRequest("description must be a string")
        await artifacts.set_description(session, repository, description)
        record(
            session,
            AuditEvent(
                principal.username,
                UPDATE,
                "repository",
                repository.name,
                origin(request),
                project_id=path.project.id,
                detail="description",
            ),
        )
        await session.commit()
    return Response(status_code=200)


async def remove_repository(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "repository", "delete")
        repository = await repository_of(session, path)
        await delete_repository(
            services, session, repository, principal.username, origin(request), path.project.id
        )
        await session.commit()
    return Response(status_code=200)


ONE = "/projects/{project_name}/repositories/{repository_name}"

ROUTES = [
    Route("/repositories", list_all_repositories, methods=["GET"]),
    Route("/projects/{project_name}/repositories", list_repositories, methods=["GET"]),
    Route(ONE, get_repository, methods=["GET"]),
    Route(ONE, update_repository, methods=["PUT"]),
    Route(ONE, remove_repository, methods=["DELETE"]),
]
