"""A repository's artifacts with their tags and pull commands; one artifact's details;
deleting tags and artifacts; editing the description."""

from __future__ import annotations

from urllib.parse import quote

from sqlalchemy.ext.asyncio import AsyncSession
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.deletion import delete_artifact_deeply  # shared with the REST API
from harborlite.audit.events import DELETE, UPDATE, AuditEvent, record
from harborlite.auth.permissions import ProjectAccess, can
from harborlite.db.models import Project, Repository
from harborlite.errors import NotFound
from harborlite.portal import queries
from harborlite.portal.artifact_views import artifact_row, read_details
from harborlite.portal.pages import (
    checked_form,
    origin,
    page_number,
    portal_of,
    redirect,
    render,
    require_viewer,
    services,
    text_field,
)
from harborlite.portal.paging import Pager
from harborlite.portal.project_pages import abilities, refuse
from harborlite.projects import queries as projects
from harborlite.sessions.store import SignedIn
from harborlite.upstream.storage import remove_tag

PAGE_SIZE = 25
MAX_DESCRIPTION = 10_000


def repository_url(name: str) -> str:
    return "/repositories/" + quote(name, safe="/")


async def load_repository(
    session: AsyncSession, viewer: SignedIn, name: str
) -> tuple[Repository, Project, ProjectAccess]:
    missing = NotFound(f"There is no repository named “{name}”.")
    repository = await artifacts.get_repository(session, name)
    if repository is None:
        raise missing
    project = await projects.get_project(session, repository.project_id)
    if project is None:
        raise missing
    access = await projects.project_access(session, viewer.principal, project)
    if not can(viewer.principal, access, "repository", "read"):
        raise missing
    return repository, project, access


async def repository_page(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["name"]
    page = page_number(request)
    host = portal_of(request).config.external_host
    async with services(request).sessions() as session:
        repository, project, access = await load_repository(session, viewer, name)
        rows, total = await queries.artifacts_of(
            session, repository.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
    return render(
        request,
        "repository.html",
        nav="projects",
        repository=repository,
        short_name=name.split("/", 1)[1] if "/" in name else name,
        project=project,
        access=access,
        can=abilities(viewer, access),
        rows=[artifact_row(host, name, a, tags) for a, tags in rows],
        pager=Pager(request, page, PAGE_SIZE, total),
        repository_url=repository_url(name),
    )


async def artifact_page(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    host = portal_of(request).config.external_host
    svc = services(request)
    async with svc.sessions() as session:
        repository, project, access = await load_repository(session, viewer, name)
        found = await artifacts.resolve_reference(session, name, reference)
        if found is None:
            raise NotFound(f"{name} has no artifact {reference}.")
        _, artifact = found
        tags = await artifacts.tags_of(session, artifact.id)
    row = artifact_row(host, name, artifact, tags)
    details = await read_details(svc.upstream, name, artifact)
    return render(
        request,
        "artifact.html",
        nav="projects",
        repository=repository,
        short_name=name.split("/", 1)[1] if "/" in name else name,
        project=project,
        access=access,
        can=abilities(viewer, access),
        row=row,
        details=details,
        repository_url=repository_url(name),
    )


async def delete_artifact(request: Request) -> Response:
    """As the REST API does it (one shared function): refused while an index names the
    artifact; an index takes its untagged, otherwise unreferenced children with it."""
    viewer = require_viewer(request)
    name = request.path_params["name"]
    digest = request.path_params["reference"]
    await checked_form(request)
    svc = services(request)
    async with svc.sessions() as session:
        repository, project, access = await load_repository(session, viewer, name)
        if not can(viewer.principal, access, "artifact", "delete"):
            raise refuse(access, "delete artifacts")
        artifact = await artifacts.get_artifact(session, repository.id, digest)
        if artifact is None:
            raise NotFound(f"{name} has no artifact {digest}.")
        if await artifacts.parent_ids(session, artifact.id):
            return redirect(
                request,
                repository_url(name),
                error="This artifact is part of an index (a multi-platform image): "
                "delete the index instead.",
            )
        deleted = await delete_artifact_deeply(
            svc, session, repository, artifact, viewer.username, origin(request), project.id
        )
        await session.commit()
        still_there = await artifacts.get_repository(session, name) is not None
    target = repository_url(name) if still_there else f"/projects/{project.name}"
    count = f" (with {len(deleted) - 1} platform images)" if len(deleted) > 1 else ""
    return redirect(request, target, notice=f"Artifact {digest[:19]} was deleted{count}.")


async def delete_tag(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["name"]
    tag = request.path_params["tag"]
    await checked_form(request)
    svc = services(request)
    async with svc.sessions() as session:
        repository, project, access = await load_repository(session, viewer, name)
        if not can(viewer.principal, access, "tag", "delete"):
            raise refuse(access, "delete tags")
        if await artifacts.get_tag(session, repository.id, tag) is None:
            raise NotFound(f"{name} has no tag {tag}.")
        await remove_tag(svc, repository.name, tag)  # the registry first, as the API does
        await artifacts.delete_tag(session, repository, tag)
        record(
            session,
            AuditEvent(
                viewer.username,
                DELETE,
                "tag",
                f"{name}:{tag}",
                origin(request),
                project_id=project.id,
            ),
        )
        await session.commit()
    return redirect(request, repository_url(name), notice=f"Tag {tag} was deleted.")


async def update_description(request: Request) -> Response:
    viewer = require_viewer(request)
    name = request.path_params["name"]
    form = await checked_form(request)
    description = text_field(form, "description")[:MAX_DESCRIPTION]
    async with services(request).sessions() as session:
        repository, project, access = await load_repository(session, viewer, name)
        if not can(viewer.principal, access, "repository", "update"):
            raise refuse(access, "edit repositories")
        await artifacts.set_description(session, repository, description)
        record(
            session,
            AuditEvent(
                viewer.username,
                UPDATE,
                "repository",
                name,
                origin(request),
                project_id=project.id,
                detail="description",
            ),
        )
        await session.commit()
    return redirect(request, repository_url(name), notice="The description was saved.")


ROUTES = [
    Route("/repositories/{name:path}/-/artifacts/{reference}", artifact_page, methods=["GET"]),
    Route(
        "/repositories/{name:path}/-/artifacts/{reference}/delete",
        delete_artifact,
        methods=["POST"],
    ),
    Route("/repositories/{name:path}/-/tags/{tag}/delete", delete_tag, methods=["POST"]),
    Route("/repositories/{name:path}/-/description", update_description, methods=["POST"]),
    Route("/repositories/{name:path}", repository_page, methods=["GET"]),
]
