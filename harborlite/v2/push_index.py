"""The artifact index follows what the registry did: a manifest push (its 201) or delete
(its 202) is recorded, with its audit entry, before the client hears it succeeded.

A push is described first (the manifest parsed; an image's or chart's config read from the
registry) with no database connection held, then recorded in one short transaction. A
transaction that loses a race (a concurrent push created the same repository, artifact or
tag first; SQLite busy with another writer) is tried again: the next attempt finds the row
and updates it. When the index cannot follow, the client is told in the registry's envelope,
never with a 2xx: the registry holds what the index does not list. A database that is away
is a 503 (the client sends the push again, and that one is recorded); anything else a 500.
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.types import Scope, Send

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts import tags as tag_rows
from harborlite.artifacts.accessories import accessory_tree
from harborlite.artifacts.describe import describe_manifest
from harborlite.artifacts.queries import PushedManifest
from harborlite.audit.events import DELETE, PUSH, Actor, record
from harborlite.auth.tokens import Claims
from harborlite.db.errors import is_busy, worth_retrying
from harborlite.db.models import Artifact
from harborlite.errors import HarborliteError
from harborlite.events.bus import DELETE_ARTIFACT, DELETE_TAG, PUSH_ARTIFACT, ArtifactEvent
from harborlite.http.origin import header, origin_of
from harborlite.oci.reference import is_digest
from harborlite.projects import queries as projects
from harborlite.quotas import queries as quotas
from harborlite.quotas.known_limits import known_limits
from harborlite.services import Services
from harborlite.upstream.calls import delete_manifest
from harborlite.v2 import quota_guard
from harborlite.v2.challenge import send_error
from harborlite.v2.routes import Route

log = logging.getLogger("harborlite.access")

INDEX_ATTEMPTS = 3


class IndexRefused(Exception):
    """The index cannot record a change the registry made; the message tells the client."""


async def index_push(
    services: Services,
    scope: Scope,
    route: Route,
    claims: Claims,
    body: bytes,
    content_type: str | None,
    digest: str | None,
) -> PushedManifest:
    """Record the push of ``body`` (the registry named it ``digest``) before the client hears
    it succeeded; what was recorded."""
    digest = digest or route.reference
    tag = None if is_digest(route.reference) else route.reference
    # No connection is held meanwhile: the session only runs a query for an index's children.
    async with services.sessions() as session:
        pushed = await describe_manifest(
            services.upstream,
            session,
            route.name,
            body,
            content_type,
            digest,
            storage=services.storage,
        )
    actor = Actor(claims.subject, origin_of(scope))
    for attempt in range(INDEX_ATTEMPTS):
        try:
            await _record_push(services, route, actor, pushed, tag, body)
            services.events.emit(
                ArtifactEvent(
                    PUSH_ARTIFACT,
                    route.project,
                    route.name,
                    pushed.digest,
                    tag,
                    actor.username,
                    media_type=pushed.media_type,
                    size=pushed.size,
                )
            )
            return pushed
        except (IntegrityError, OperationalError) as error:
            if not worth_retrying(error) or attempt == INDEX_ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    raise AssertionError("unreachable: the last attempt returns or raises")


async def _record_push(
    services: Services,
    route: Route,
    actor: Actor,
    pushed: PushedManifest,
    tag: str | None,
    body: bytes,
) -> None:
    """The artifact, its tag, its audit entry and (for a project the quota guard let through
    unchecked: an unlimited one) the manifest's quota rows, in one transaction."""
    known = known_limits(services.sessions)
    async with services.sessions() as session:
        at = known.reading()
        found = await quotas.project_and_hard(session, route.project)
        known.learnt(route.project, found, at)
        if found is None:  # deleted between the token and now
            raise IndexRefused(
                f"project {route.project} was deleted during the push; the registry holds "
                "the manifest but harborlite does not list it"
            )
        project_id, hard = found
        await quota_guard.record_manifest(services, session, project_id, hard, body)
        await artifacts.record_push(
            session,
            project_id=project_id,
            repository_name=route.name,
            manifest=pushed,
            tag=tag,
            pusher=actor.username,
        )
        resource = f"{route.name}:{tag}" if tag else f"{route.name}@{pushed.digest}"
        record(session, actor.event(PUSH, "artifact", resource, project_id=project_id))
        await session.commit()


async def index_delete(services: Services, scope: Scope, route: Route, claims: Claims) -> None:
    """Forget the deleted manifest (by digest, with its tags) or tag, and audit it. A manifest
    deleted by digest takes its accessories with it (signatures, SBOMs, referrers, and theirs),
    in the registry and in the index, as Harbor does; one the registry refuses to delete stays
    listed, as it stays stored."""
    by_digest = is_digest(route.reference)
    actor = Actor(claims.subject, origin_of(scope))
    async with services.sessions() as session:
        repository = await artifacts.get_repository(session, route.name)
        project = await projects.get_project_by_name(session, route.project)
        project_id = project.id if project else None
        gone: list[str] = []
        if repository is not None:
            if by_digest:
                root = await artifacts.get_artifact(session, repository.id, route.reference)
                doomed = await accessory_tree(session, root) if root is not None else []
                deleted = await _delete_in_registry(services, route.name, doomed)
                gone = [a.digest for a in deleted]
                await artifacts.forget_artifacts(session, repository, [a.id for a in deleted])
                await artifacts.delete_artifact(session, repository, route.reference)
            else:
                await tag_rows.delete_tag(session, repository, route.reference)
        separator = "@" if by_digest else ":"
        for reference in [f"{separator}{route.reference}", *(f"@{d}" for d in gone)]:
            event = actor.event(
                DELETE,
                "artifact" if by_digest else "tag",
                f"{route.name}{reference}",
                project_id=project_id,
            )
            record(session, event)
        await session.commit()
    for digest in gone:
        services.events.emit(
            ArtifactEvent(DELETE_ARTIFACT, route.project, route.name, digest, None, claims.subject)
        )
    services.events.emit(
        ArtifactEvent(
            DELETE_ARTIFACT if by_digest else DELETE_TAG,
            route.project,
            route.name,
            route.reference if by_digest else None,
            None if by_digest else route.reference,
            claims.subject,
        )
    )


async def _delete_in_registry(
    services: Services, repository: str, doomed: list[Artifact]
) -> list[Artifact]:
    """Delete the accessories' manifests in the registry; those it deleted."""
    deleted: list[Artifact] = []
    for artifact in doomed:
        try:
            await delete_manifest(services.upstream, repository, artifact.digest)
        except HarborliteError as error:
            log.error("deleting accessory %s@%s failed: %s", repository, artifact.digest, error)
            continue
        deleted.append(artifact)
    return deleted


async def index_failed(scope: Scope, send: Send, route: Route, error: Exception) -> int:
    """The registry did the work, harborlite's index did not follow: say so, never 2xx."""
    request_id = header(scope, b"x-request-id") or "-"
    log.error(
        "indexing %s %s failed (request %s): %r",
        scope["method"],
        route.name,
        request_id,
        error,
        exc_info=error,
    )
    if is_busy(error):  # the database is away: the same request, sent again, records it
        message = (
            "the registry accepted the change but harborlite could not record it now (its "
            f"database is unavailable); send it again (request id {request_id})"
        )
        await send_error(send, 503, "UNAVAILABLE", message)
        return 503
    message = (
        error.args[0]
        if isinstance(error, IndexRefused)
        else f"the registry accepted the change but harborlite could not record it; "
        f"`harborlite reindex` repairs this (request id {request_id})"
    )
    await send_error(send, 500, "UNKNOWN", message)
    return 500
