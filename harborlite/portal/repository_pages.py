"""A repository's artifacts with their tags and pull commands, each with its accessories
(signatures, SBOMs) under it; one artifact's details and accessories; deleting tags and
artifacts; editing the description."""

from __future__ import annotations

from urllib.parse import quote

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.artifacts import operations
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.errors import NotFound, PreconditionFailed
from harborlite.portal import queries
from harborlite.portal.artifact_views import (
    accessories_under,
    artifact_row,
    named_keys,
    read_details,
    verified_rows,
)
from harborlite.portal.call import page_call
from harborlite.portal.pages import (
    checked_form,
    page_number,
    portal_of,
    redirect,
    render,
    text_field,
)
from harborlite.portal.paging import Pager
from harborlite.scanning.queries import overviews_of
from harborlite.signatures import queries as signature_keys

PAGE_SIZE = 25
MAX_DESCRIPTION = 10_000


def repository_url(name: str) -> str:
    return "/repositories/" + quote(name, safe="/")


async def repository_page(request: Request) -> Response:
    """The artifacts as the REST API lists them; an index with its children under it."""
    name = request.path_params["name"]
    page = page_number(request)
    host = portal_of(request).config.external_host
    async with page_call(request) as call:
        repository, project, access = await call.repository(name)
        listed, total = await queries.artifacts_of(
            call.session, repository.id, offset=(page - 1) * PAGE_SIZE, limit=PAGE_SIZE
        )
        abilities = call.abilities(access)
        found = await accessories_under(
            call.session, repository.id, [x.artifact.digest for x in listed]
        )
        keys = named_keys(await signature_keys.list_keys(call.session, project.id))
        upstream = call.services.upstream
        digests = [x.artifact.digest for x in listed]
        digests += [child.digest for x in listed for child, _ in x.children]
        scans = await overviews_of(call.session, digests)
    accessories = await verified_rows(upstream, name, keys, found)
    return render(
        request,
        "repository.html",
        nav="projects",
        repository=repository,
        short_name=name.split("/", 1)[1] if "/" in name else name,
        project=project,
        access=access,
        can=abilities,
        rows=[artifact_row(host, name, x.artifact, x.tags, x.children) for x in listed],
        accessories=accessories,
        scans=scans,
        pager=Pager(request, page, PAGE_SIZE, total),
        repository_url=repository_url(name),
    )


async def artifact_page(request: Request) -> Response:
    name = request.path_params["name"]
    reference = request.path_params["reference"]
    host = portal_of(request).config.external_host
    async with page_call(request) as call:
        repository, project, access = await call.repository(name)
        found = await artifacts.resolve_reference(call.session, name, reference)
        if found is None:
            raise NotFound(f"{name} has no artifact {reference}.")
        _, artifact = found
        tags = await tag_rows.tags_of(call.session, artifact.id)
        abilities = call.abilities(access)
        upstream = call.services.upstream
        linked = await accessories_under(call.session, repository.id, [artifact.digest])
        keys = named_keys(await signature_keys.list_keys(call.session, project.id))
    row = artifact_row(host, name, artifact, tags)
    details = await read_details(upstream, name, artifact)
    accessories = (await verified_rows(upstream, name, keys, linked)).get(artifact.digest, [])
    return render(
        request,
        "artifact.html",
        nav="projects",
        repository=repository,
        short_name=name.split("/", 1)[1] if "/" in name else name,
        project=project,
        access=access,
        can=abilities,
        row=row,
        details=details,
        accessories=accessories,
        repository_url=repository_url(name),
    )


async def delete_artifact(request: Request) -> Response:
    """:func:`operations.delete_artifact`, as the REST API calls it: refused while an index
    names the artifact; an index takes its untagged, otherwise unreferenced children with it."""
    name = request.path_params["name"]
    digest = request.path_params["reference"]
    async with page_call(request) as call:
        await checked_form(request)
        repository, project, access = await call.repository(name)
        call.require(access, ("artifact", "delete"), "delete artifacts")
        artifact = await artifacts.get_artifact(call.session, repository.id, digest)
        if artifact is None:
            raise NotFound(f"{name} has no artifact {digest}.")
        try:
            deleted = await operations.delete_artifact(
                call.session, call.services.upstream, repository, artifact, by=call.actor
            )
        except PreconditionFailed:
            return redirect(
                request,
                repository_url(name),
                error="This artifact is part of an index (a multi-platform image): "
                "delete the index instead.",
            )
        still_there = await artifacts.get_repository(call.session, name) is not None
    target = repository_url(name) if still_there else f"/projects/{project.name}"
    count = f" (with {len(deleted) - 1} platform images)" if len(deleted) > 1 else ""
    return redirect(request, target, notice=f"Artifact {digest[:19]} was deleted{count}.")


async def delete_tag(request: Request) -> Response:
    """:func:`operations.remove_tag`: the registry first, then the index, as the API does."""
    name = request.path_params["name"]
    tag = request.path_params["tag"]
    async with page_call(request) as call:
        await checked_form(request)
        repository, _, access = await call.repository(name)
        call.require(access, ("tag", "delete"), "delete tags")
        services = call.services
        try:
            await operations.remove_tag(
                call.session,
                services.upstream,
                services.storage,
                repository,
                tag,
                by=call.actor,
            )
        except NotFound:
            raise NotFound(f"{name} has no tag {tag}.") from None
    return redirect(request, repository_url(name), notice=f"Tag {tag} was deleted.")


async def update_description(request: Request) -> Response:
    name = request.path_params["name"]
    async with page_call(request) as call:
        form = await checked_form(request)
        description = text_field(form, "description")[:MAX_DESCRIPTION]
        repository, _, access = await call.repository(name)
        call.require(access, ("repository", "update"), "edit repositories")
        await operations.set_description(call.session, repository, description, by=call.actor)
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
