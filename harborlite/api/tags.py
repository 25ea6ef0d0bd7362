"""``.../artifacts/{reference}/tags``: list, create and delete an artifact's tags.

Creating and deleting are :mod:`harborlite.artifacts.operations`: a tag made here is written to
the registry too (the manifest is stored again under the new tag), so clients can pull it; a tag
deleted here is removed from the registry first (its manifest stays, pullable by digest and by
its other tags), then from the index.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.body import field_str, json_body
from harborlite.api.call import api_call, encode_repository
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render_artifacts import tag_json
from harborlite.artifacts import operations
from harborlite.artifacts import tags as tag_rows
from harborlite.db.models import Tag
from harborlite.events.bus import DELETE_TAG, ArtifactEvent

FIELDS = {
    "id": Field(Tag.id, "int"),
    "name": Field(Tag.name),
    "push_time": Field(Tag.push_time, "time"),
    "pull_time": Field(Tag.pull_time, "time"),
}


async def list_tags(request: Request) -> Response:
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with api_call(request) as call:
        found = await call.artifact(("tag", "list"))
        rows, total = await tag_rows.list_tags(
            call.session,
            found.artifact.id,
            conditions=where,
            order_by=[*order, Tag.id.desc()] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [tag_json(t) for t in rows], total, page)


async def create_tag(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("tag", "create"))
        name = field_str(await json_body(request), "name", required=True)
        await operations.add_tag(
            call.session,
            call.services.upstream,
            found.repository,
            found.artifact,
            name,
            by=call.actor,
        )
    location = (
        f"/api/v2.0/projects/{found.project.name}/repositories/"
        f"{encode_repository(found.short_name)}/artifacts/{found.artifact.digest}/tags/{name}"
    )
    return Response(status_code=201, headers={"Location": location})


async def delete_tag(request: Request) -> Response:
    async with api_call(request) as call:
        found = await call.artifact(("tag", "delete"))
        await operations.remove_tag(
            call.session,
            call.services.upstream,
            call.services.storage,
            found.repository,
            request.path_params["tag_name"],
            of=found.artifact,
            by=call.actor,
        )
    call.services.events.emit(
        ArtifactEvent(
            DELETE_TAG,
            found.project.name,
            found.repository.name,
            found.artifact.digest,
            request.path_params["tag_name"],
            call.principal.username,
        )
    )
    return Response(status_code=200)


BASE = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags"

ROUTES = [
    Route(BASE, list_tags, methods=["GET"]),
    Route(BASE, create_tag, methods=["POST"]),
    Route(BASE + "/{tag_name}", delete_tag, methods=["DELETE"]),
]
