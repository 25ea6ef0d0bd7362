"""``/repositories`` and ``/projects/{p}/repositories``: list, read, describe, delete."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body
from harborlite.api.call import api_call
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render_artifacts import repository_json
from harborlite.artifacts import operations
from harborlite.artifacts import repositories as repository_rows
from harborlite.db.models import Repository
from harborlite.errors import BadRequest
from harborlite.projects import queries as projects

FIELDS = {
    "id": Field(Repository.id, "int"),
    "name": Field(Repository.name),
    "project_id": Field(Repository.project_id, "int"),
    "pull_count": Field(Repository.pull_count, "int"),
    "creation_time": Field(Repository.creation_time, "time"),
    "update_time": Field(Repository.update_time, "time"),
}


async def _list(request: Request, *, scoped_to_project: bool) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        project_id = None
        visible = None
        if scoped_to_project:
            found = await call.project(("repository", "list"), "project_name")
            project_id = found.project.id
        else:
            visible = projects.visible_condition(call.principal)
        rows, total = await repository_rows.list_repositories(
            call.session,
            visible=visible,
            project_id=project_id,
            conditions=where,
            order_by=[*order, Repository.id.desc()] if order else (),
            offset=page.offset,
            limit=page.size,
        )
        counts = await repository_rows.artifact_counts(call.session, [r.id for r in rows])
    items = [repository_json(r, counts.get(r.id, 0)) for r in rows]
    return paged_response(request, list(items), total, page)


async def list_all_repositories(request: Request) -> Response:
    return await _list(request, scoped_to_project=False)


async def list_repositories(request: Request) -> Response:
    return await _list(request, scoped_to_project=True)


async def get_repository(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.repository(("repository", "read"))
        counts = await repository_rows.artifact_counts(call.session, [found.repository.id])
    return JSONResponse(repository_json(found.repository, counts.get(found.repository.id, 0)))


async def update_repository(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.repository(("repository", "update"))
        description = (await json_body(request)).get("description", "")
        if description is None:
            description = ""
        if not isinstance(description, str):
            raise BadRequest("description must be a string")
        await operations.set_description(call.session, found.repository, description, by=call.actor)
    return Response(status_code=200)


async def remove_repository(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.repository(("repository", "delete"))
        services = call.services
        await operations.delete_repository(
            call.session, services.upstream, services.storage, found.repository, by=call.actor
        )
    return Response(status_code=200)


ONE = "/projects/{project_name}/repositories/{repository_name}"

ROUTES = [
    Route("/repositories", list_all_repositories, methods=["GET"]),
    Route("/projects/{project_name}/repositories", list_repositories, methods=["GET"]),
    Route(ONE, get_repository, methods=["GET"]),
    Route(ONE, update_repository, methods=["PUT"]),
    Route(ONE, remove_repository, methods=["DELETE"]),
]
