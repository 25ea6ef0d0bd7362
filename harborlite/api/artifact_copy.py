"""``POST .../artifacts?from=<project>/<repository>(:tag|@digest)``: copy an artifact.

As Harbor: the caller needs pull on the source and push on the destination. The copy itself,
through the registry and then into the index, is :func:`harborlite.artifacts.copy.copy_artifact`.
"""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.call import api_call, encode_repository
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.copy import copy_artifact as copy_into
from harborlite.errors import BadRequest, NotFound
from harborlite.oci.reference import is_digest, valid_repository_name, valid_tag


@dataclass(frozen=True)
class Source:
    project: str
    repository: str  # full name: project/repo
    reference: str  # a tag or a digest


def parse_from(text: str) -> Source:
    """``project/repo:tag`` or ``project/repo@digest``."""
    usage = 'from must be "project/repository:tag" or "project/repository@digest"'
    if "@" in text:
        name, _, reference = text.partition("@")
        if not is_digest(reference):
            raise BadRequest(f"{usage}: {reference!r} is not a digest")
    else:
        slash = text.rfind("/")
        colon = text.rfind(":")
        if colon <= slash:
            raise BadRequest(f"{usage}, got {text!r}")
        name, reference = text[:colon], text[colon + 1 :]
        if not valid_tag(reference):
            raise BadRequest(f"{usage}: {reference!r} is not a valid tag")
    project, slash_found, short = name.partition("/")
    if not slash_found or not short or not valid_repository_name(name):
        raise BadRequest(f"{usage}: {name!r} is not a repository of a project")
    return Source(project, name, reference)


async def copy_artifact(request: Request) -> Response:
    raw = request.query_params.get("from")
    if not raw:
        raise BadRequest(
            'from is required: "project/repository:tag" or "project/repository@digest"'
        )
    async with api_call(request) as call:
        target = await call.repository_path(("repository", "push"))
        if not valid_repository_name(target.full_name):
            raise BadRequest(f"invalid repository name {target.full_name!r}")
        source = parse_from(raw)
        await call.project_named(source.project, ("repository", "pull"), by_name=True)
        found = await artifacts.resolve_reference(call.session, source.repository, source.reference)
        if found is None:
            raise NotFound(f"artifact {raw} not found")
        repository, root = found
        digest = await copy_into(
            call.session,
            call.services.upstream,
            source=repository,
            root=root,
            project=target.project,
            target=target.full_name,
            by=call.actor,
        )
    location = (
        f"/api/v2.0/projects/{target.project.name}/repositories/"
        f"{encode_repository(target.short_name)}/artifacts/{digest}"
    )
    return Response(status_code=201, headers={"Location": location})


ROUTES = [
    Route(
        "/projects/{project_name}/repositories/{repository_name}/artifacts",
        copy_artifact,
        methods=["POST"],
    )
]
