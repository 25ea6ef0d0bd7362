"""``.../artifacts/{reference}/tags``: list, create and delete an artifact's tags.

A tag made here is also written to the registry (the manifest is stored again under the new
tag), so clients can pull it. Deleting a tag is an index operation only, as in Harbor: the
registry of distribution 2.8 cannot delete a tag and keeps the manifest.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.context import caller, field_str, json_body, origin
from harborlite.api.locate import artifact_of, encode_repository, repository_of, repository_path
from harborlite.api.paging import page_of, paged_response
from harborlite.api.query import Field, conditions, parse_sort, q_of
from harborlite.api.render_artifacts import tag_json
from harborlite.artifacts import queries as artifacts
from harborlite.audit.events import CREATE, DELETE, AuditEvent, record
from harborlite.db.models import Tag
from harborlite.errors import BadRequest, Conflict, NotFound
from harborlite.oci.reference import valid_tag
from harborlite.services import services_of
from harborlite.upstream.calls import get_manifest, put_manifest
from harborlite.upstream.storage import remove_tag

FIELDS = {
    "id": Field(Tag.id, "int"),
    "name": Field(Tag.name),
    "push_time": Field(Tag.push_time, "time"),
    "pull_time": Field(Tag.pull_time, "time"),
}


async def list_tags(request: Request) -> Response:
    services = services_of(request)
    page = page_of(request)
    where = conditions(q_of(request), FIELDS)
    order = parse_sort(request.query_params.get("sort"), FIELDS, [])
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "tag", "list")
        repository = await repository_of(session, path)
        artifact = await artifact_of(session, repository, request.path_params["reference"])
        rows, total = await artifacts.list_tags(
            session,
            artifact.id,
            conditions=where,
            order_by=[*order, Tag.id.desc()] if order else (),
            offset=page.offset,
            limit=page.size,
        )
    return paged_response(request, [tag_json(t) for t in rows], total, page)


async def create_tag(request: Request) -> Response:
    services = services_of(request)
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "tag", "create")
        body = await json_body(request)
        name = field_str(body, "name", required=True)
        if not valid_tag(name):
            raise BadRequest(
                f"invalid tag {name!r}: up to 128 letters, digits, '_', '.' or '-', "
                "not starting with '.' or '-'"
            )
        repository = await repository_of(session, path)
        artifact = await artifact_of(session, repository, request.path_params["reference"])
        existing = await artifacts.get_tag(session, repository.id, name)
        if existing is not None:
            raise Conflict(f"tag {name} already exists in {repository.name}")
        manifest, media_type = await get_manifest(
            services.upstream, repository.name, artifact.digest
        )
        await put_manifest(
            services.upstream,
            repository.name,
            name,
            manifest,
            media_type or artifact.manifest_media_type,
        )
        await artifacts.add_tag(session, repository, artifact, name)
        record(
            session,
            AuditEvent(
                principal.username,
                CREATE,
                "tag",
                f"{repository.name}:{name}",
                origin(request),
                project_id=path.project.id,
            ),
        )
        await session.commit()
        location = (
            f"/api/v2.0/projects/{path.project.name}/repositories/"
            f"{encode_repository(path.short_name)}/artifacts/{artifact.digest}/tags/{name}"
        )
    return Response(status_code=201, headers={"Location": location})


async def delete_tag(request: Request) -> Response:
    services = services_of(request)
    name = request.path_params["tag_name"]
    async with services.sessions() as session:
        principal = await caller(request, session)
        path = await repository_path(request, session, principal, "tag", "delete")
        repository = await repository_of(session, path)
        artifact = await artifact_of(session, repository, request.path_params["reference"])
        tag = await artifacts.get_tag(session, repository.id, name)
        if tag is None or tag.artifact_id != artifact.id:
            raise NotFound(f"tag {name} not found on {repository.name}@{artifact.digest}")
        # the registry first: no database write lock is held while it answers, and a
        # registry that refuses leaves the index as it was
        await remove_tag(services, repository.name, name)
        await artifacts.delete_tag(session, repository, name)
        record(
            session,
            AuditEvent(
                principal.username,
                DELETE,
                "tag",
                f"{repository.name}:{name}",
                origin(request),
                project_id=path.project.id,
            ),
        )
        await session.commit()
    return Response(status_code=200)


BASE = "/projects/{project_name}/repositories/{repository_name}/artifacts/{reference}/tags"

ROUTES = [
    Route(BASE, list_tags, methods=["GET"]),
    Route(BASE, create_tag, methods=["POST"]),
    Route(BASE + "/{tag_name}", delete_tag, methods=["DELETE"]),
]
