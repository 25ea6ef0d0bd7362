"""``/projects/{p}/metadatas/``: a project's settings, as Harbor keeps them (strings).

Every member (anyone, on a public project) may read them; ProjectAdmins change them. Names and
values are checked as Harbor checks them; ``public`` is also the project's public flag.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from harborlite.api.body import json_body
from harborlite.api.call import api_call
from harborlite.errors import BadRequest, NotFound
from harborlite.projects import operations


async def list_metadata(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project()
        return JSONResponse(operations.settings_of(found.project))


async def add_metadata(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        body = await json_body(request)
        await operations.add_settings(call.session, found.project, body, by=call.actor)
    return Response(status_code=200)


async def get_metadata(request: Request) -> Response:
    name = request.path_params["meta_name"]
    async with api_call(request) as call:
        found = await call.project()
        metadata = operations.settings_of(found.project)
    if name not in metadata:
        raise NotFound(f"project {found.project.name} has no metadata {name}")
    return JSONResponse({name: metadata[name]})


async def update_metadata(request: Request) -> Response:
    name = request.path_params["meta_name"]
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        body = await json_body(request)
        if set(body) != {name}:
            raise BadRequest(
                f"the body must set exactly the metadata in the path: {{{name!r}: ...}}"
            )
        await operations.change_setting(
            call.session, found.project, name, body[name], by=call.actor
        )
    return Response(status_code=200)


async def delete_metadata(request: Request) -> Response:
    name = request.path_params["meta_name"]
    async with api_call(request) as call:
        found = await call.project(("project", "update"))
        await operations.remove_setting(call.session, found.project, name, by=call.actor)
    return Response(status_code=200)


BASE = "/projects/{project_name_or_id}/metadatas/"

ROUTES = [
    Route(BASE, list_metadata, methods=["GET"]),
    Route(BASE, add_metadata, methods=["POST"]),
    Route(BASE + "{meta_name}", get_metadata, methods=["GET"]),
    Route(BASE + "{meta_name}", update_metadata, methods=["PUT"]),
    Route(BASE + "{meta_name}", delete_metadata, methods=["DELETE"]),
]
