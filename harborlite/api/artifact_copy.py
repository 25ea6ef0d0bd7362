"""``POST .../artifacts?from=<project>/<repository>(:tag|@digest)``: copy an artifact.

As Harbor: the caller needs pull on the source and push on the destination. The copy goes
through the registry without moving bytes through harborlite: every blob is mounted across
repositories (``POST /v2/<dst>/blobs/uploads/?mount=<digest>&from=<src>``, with a token
harborlite signs for both), then each manifest is stored by digest, children before their
index, and the source's tags last. Only when the registry holds everything is the copy
recorded in the artifact index (and the audit log), in one transaction: a copy that fails
midway leaves no index entry, and the manifests it had already stored are deleted again.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass

import aiohttp
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from harborlite.api.context import caller, check, deny, origin
from harborlite.api.locate import encode_repository, repository_path
from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.describe import describe_manifest
from harborlite.audit.events import CREATE, AuditEvent, record
from harborlite.auth.permissions import can
from harborlite.auth.scopes import Access
from harborlite.errors import (
    BadRequest,
    HarborliteError,
    NotFound,
    RegistryRefused,
    UpstreamUnavailable,
)
from harborlite.oci.fields import ManifestError
from harborlite.oci.manifest import Descriptor, parse_manifest
from harborlite.oci.reference import is_digest, valid_repository_name, valid_tag
from harborlite.projects import queries as projects
from harborlite.services import services_of
from harborlite.upstream.calls import delete_manifest, get_manifest, put_manifest
from harborlite.upstream.client import Upstream

log = logging.getLogger("harborlite.api")


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


@dataclass(frozen=True)
class Copied:
    digest: str
    body: bytes
    media_type: str


def _skipped(blob: Descriptor) -> bool:
    """Foreign layers live elsewhere: the registry holds nothing to mount."""
    kind = blob.media_type.lower()
    return bool(blob.urls) or "foreign" in kind or "nondistributable" in kind


async def mount_blob(upstream: Upstream, source: str, target: str, digest: str) -> None:
    token, _, _ = upstream.signer.sign(
        "harborlite",
        [Access("repository", target, ("pull", "push")), Access("repository", source, ("pull",))],
        expiration_seconds=60,
    )
    headers = {"Authorization": f"Bearer {token}"}
    url = f"{upstream.base_url}/v2/{target}/blobs/uploads/"
    try:
        async with upstream.session.post(
            url, params={"mount": digest, "from": source}, headers=headers
        ) as response:
            status = response.status
            location = response.headers.get("Location", "")
            await response.read()
        if status == 202 and location:  # not mounted: an upload was opened instead; close it
            if location.startswith("/"):
                location = upstream.base_url + location
            async with upstream.session.delete(location, headers=headers) as cancelled:
                await cancelled.read()
    except aiohttp.ClientError as error:
        raise UpstreamUnavailable(f"registry unreachable: {error}") from None
    if status == 201:
        return
    if status == 202:
        raise NotFound(f"blob {digest} of {source} is not in the registry")
    raise RegistryRefused(f"the registry refused to mount {digest} from {source} ({status})")


async def copy_tree(
    upstream: Upstream, source: str, target: str, digest: str, done: list[Copied]
) -> Copied:
    """Copy the manifest ``digest`` (children first, blobs mounted) and append to ``done``."""
    for copied in done:
        if copied.digest == digest:
            return copied
    body, media_type = await get_manifest(upstream, source, digest)
    try:
        info = parse_manifest(body, media_type)
    except ManifestError as error:
        raise RegistryRefused(f"manifest {source}@{digest} cannot be read: {error}") from None
    if info.is_index:
        for child in info.references:
            await copy_tree(upstream, source, target, child.digest, done)
    else:
        blobs = ([info.config] if info.config is not None else []) + list(info.layers)
        mounted: set[str] = set()
        for blob in blobs:
            if blob.digest not in mounted and not _skipped(blob):
                await mount_blob(upstream, source, target, blob.digest)
                mounted.add(blob.digest)
    await put_manifest(upstream, target, digest, body, media_type or info.media_type)
    copied = Copied(digest, body, media_type or info.media_type)
    done.append(copied)
    return copied


async def _undo(upstream: Upstream, target: str, written: list[Copied], kept: set[str]) -> None:
    """Delete again the manifests this copy stored that were not in the target before."""
    for copied in reversed(written):
        if copied.digest in kept:
            continue
        with contextlib.suppress(HarborliteError):
            await delete_manifest(upstream, target, copied.digest)


async def copy_artifact(request: Request) -> Response:
    services = services_of(request)
    raw = request.query_params.get("from")
    if not raw:
        raise BadRequest(
            'from is required: "project/repository:tag" or "project/repository@digest"'
        )
    async with services.sessions() as session:
        principal = await caller(request, session)
        target = await repository_path(request, session, principal, "repository", "push")
        if not valid_repository_name(target.full_name):
            raise BadRequest(f"invalid repository name {target.full_name!r}")
        source = parse_from(raw)
        source_project = await projects.get_project_by_name(session, source.project)
        if source_project is None:
            raise NotFound(f"project {source.project} not found")
        source_access = await projects.project_access(session, principal, source_project)
        if not can(principal, source_access, "project", "read"):
            raise deny(principal, f"read project {source_project.name}")
        check(principal, source_access, "repository", "pull")
        found = await artifacts.resolve_reference(session, source.repository, source.reference)
        if found is None:
            raise NotFound(f"artifact {raw} not found")
        _, root = found
        tags = [tag.name for tag in await artifacts.tags_of(session, root.id)]
        existing = await artifacts.get_repository(session, target.full_name)
        kept = (
            {a.digest for a in await artifacts.artifacts_of_repository(session, existing.id)}
            if existing is not None
            else set()
        )
        project_id, root_digest = target.project.id, root.digest
    # No database session is held while the registry works.
    upstream = services.upstream
    written: list[Copied] = []
    try:
        top = await copy_tree(upstream, source.repository, target.full_name, root_digest, written)
        for tag in tags:
            await put_manifest(upstream, target.full_name, tag, top.body, top.media_type)
    except Exception:
        await _undo(upstream, target.full_name, written, kept)
        raise
    try:
        await _index(
            request, source, target.full_name, project_id, written, top, tags, principal.username
        )
    except Exception:
        await _undo(upstream, target.full_name, written, kept)
        raise
    log.info("copied %s@%s to %s", source.repository, root_digest, target.full_name)
    location = (
        f"/api/v2.0/projects/{target.project.name}/repositories/"
        f"{encode_repository(target.short_name)}/artifacts/{root_digest}"
    )
    return Response(status_code=201, headers={"Location": location})


async def _index(
    request: Request,
    source: Source,
    target: str,
    project_id: int,
    written: list[Copied],
    top: Copied,
    tags: list[str],
    username: str,
) -> None:
    """Record the copied manifests (children first) and the tags, with one audit entry."""
    services = services_of(request)
    upstream = services.upstream
    async with services.sessions() as session:
        for copied in written:
            pushed = await describe_manifest(
                upstream, session, target, copied.body, copied.media_type, copied.digest
            )
            for tag in tags if copied is top else []:
                await artifacts.record_push(
                    session,
                    project_id=project_id,
                    repository_name=target,
                    manifest=pushed,
                    tag=tag,
                    pusher=username,
                )
            if copied is not top or not tags:
                await artifacts.record_push(
                    session,
                    project_id=project_id,
                    repository_name=target,
                    manifest=pushed,
                    tag=None,
                    pusher=username,
                )
        record(
            session,
            AuditEvent(
                username,
                CREATE,
                "artifact",
                f"{target}@{top.digest}",
                origin(request),
                project_id=project_id,
                detail=f"copied from {source.repository}@{top.digest}",
            ),
        )
        await session.commit()


ROUTES = [
    Route(
        "/projects/{project_name}/repositories/{repository_name}/artifacts",
        copy_artifact,
        methods=["POST"],
    )
]
