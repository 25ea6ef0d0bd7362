"""Project quotas at ``/v2/``: uploads, mounts and manifest pushes that would take a project
past its storage quota are refused with Harbor's answer before the registry stores them.

The gateway calls :func:`refused_upload` before an upload request goes to the registry,
:func:`uploaded` once the registry answered it, :func:`refused_manifest_push` before a manifest
PUT goes and :func:`manifest_answered` after. The rules and the bookkeeping are
:mod:`harborlite.quotas.usage`'s; here the request is read: which blob, how many bytes.

- ``POST`` (an upload starts): refused when the project is over its limit already, so no byte
  is sent (Harbor's "subtracting 0 B ..." sentence, as Harbor answers since #17390).
- ``POST ?mount=&from=`` (a cross-repository mount) and ``POST ?digest=`` (a one-request
  upload): the blob is counted, or refused.
- ``PUT ?digest=`` (an upload completes): the bytes sent before (the registry's signed upload
  state says how many; else its storage or its upload status) plus this request's body.
- A ``PATCH`` is not checked: what it sends counts only when the upload completes.

A project known to be unlimited (:mod:`harborlite.quotas.known_limits`: read within the last
second, forgotten at once when a quota or project changes through this process) costs an upload
start nothing, and its manifest push nothing before the registry answers: there is nothing to
refuse, and the manifest's quota rows are written in the index's transaction
(:func:`record_manifest`). A limited project's requests are all counted before the registry
sees them.

A refusal is ``403 DENIED`` with Harbor's message; docker prints ``denied: <message>``. When
the quota cannot be checked (the database is gone), the push is answered ``503`` (clients try
again), never let through unchecked.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import json
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TypeVar
from urllib.parse import parse_qs

from sqlalchemy.exc import IntegrityError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Scope

from harborlite.db.errors import worth_retrying
from harborlite.errors import HarborliteError
from harborlite.events.bus import ArtifactEvent
from harborlite.http.origin import header
from harborlite.oci.reference import is_digest
from harborlite.quotas import queries, usage
from harborlite.quotas.known_limits import known_limits
from harborlite.quotas.limits import Overflow, format_size
from harborlite.quotas.models import UNLIMITED
from harborlite.quotas.uploads import blob_size_on_disk, upload_size_on_disk
from harborlite.quotas.usage import Clock, Reservation
from harborlite.services import Services
from harborlite.v2.challenge import Refusal
from harborlite.v2.routes import Route
from harborlite.webhooks.events import QUOTA_EXCEED, QUOTA_WARNING

log = logging.getLogger("harborlite.quotas")

RESERVED = "harborlite.quota.reservation"  # the scope key an upload's reservation waits under
ATTEMPTS = 3
UNCHECKED = Refusal(
    503, "UNAVAILABLE", "harborlite could not check the project's storage quota; try again"
)
T = TypeVar("T")


@dataclass(frozen=True)
class _Held:
    reservation: Reservation
    exact: bool  # the size was known, not guessed


def _window(services: Services) -> Clock:
    return Clock.of(usage.upload_window(services.settings.gc_time_window_minutes))


def _denied(refused: Overflow) -> Refusal:
    return Refusal(403, "DENIED", refused.message)


def _exceeded(
    services: Services,
    route: Route,
    refused: Overflow,
    digest: str | None = None,
    tag: str | None = None,
) -> Refusal:
    """The refusal, told to the event bus first (QUOTA_EXCEED webhooks); telling it can never
    change the answer."""
    details: dict[str, object] = {"custom_attributes": {"Details": refused.message}}
    event = ArtifactEvent(QUOTA_EXCEED, route.project, route.name, digest, tag, "", details=details)
    try:
        services.events.emit(event)
    except Exception:
        log.warning("could not tell the quota refusal of %s to the events", route.name)
    return _denied(refused)


def _warned(services: Services, route: Route, digest: str, used: int, hard: int) -> None:
    """A push that takes its project near its limit, told to the event bus (QUOTA_WARNING)."""
    share = int(usage.WARNING_SHARE * 100)
    message = (
        f"quota usage reach {share}%: resource storage used {format_size(used)} of "
        f"{format_size(hard)}"
    )
    details: dict[str, object] = {"custom_attributes": {"Details": message}}
    tag = _tag_of(route)
    event = ArtifactEvent(
        QUOTA_WARNING, route.project, route.name, digest, tag, "", details=details
    )
    try:
        services.events.emit(event)
    except Exception:
        log.warning("could not tell the quota warning of %s to the events", route.name)


async def _in_transaction(
    services: Services, step: Callable[[AsyncSession, int, int | None], Awaitable[T]], project: str
) -> T | None:
    """``step(session, project_id, hard)`` in a transaction of its own, committed; tried again
    when it lost a race. ``hard``: the limit as read first in the transaction (None: the project
    has no quota row yet), or UNLIMITED known from the last second (no read then). None when the
    project does not exist (deleted during the push)."""
    known = known_limits(services.sessions)
    for attempt in range(ATTEMPTS):
        try:
            async with services.sessions() as session:
                project_id = known.unlimited(project)
                hard: int | None = UNLIMITED
                if project_id is None:
                    at = known.reading()
                    found = await queries.project_and_hard(session, project)
                    known.learnt(project, found, at)
                    if found is None:
                        return None
                    project_id, hard = found
                result = await step(session, project_id, hard)
                await session.commit()
                return result
        except (IntegrityError, OperationalError) as error:
            if not worth_retrying(error) or attempt == ATTEMPTS - 1:
                raise
            await asyncio.sleep(0.05 * (attempt + 1))
    return None  # pragma: no cover


def _params(scope: Scope) -> dict[str, list[str]]:
    query: bytes = scope.get("query_string", b"")
    return parse_qs(query.decode("latin-1")) if query else {}


def _content_length(scope: Scope) -> int | None:
    raw = header(scope, b"content-length")
    if raw is None or not raw.strip().isdigit():
        return None
    return int(raw.strip())


def state_offset(state: str) -> int | None:
    """The bytes an upload holds, as the registry's ``_state`` (which it signs and checks
    against the upload) says: base64url of an HMAC-SHA256 then ``{"Offset": N, ...}``."""
    try:
        raw = base64.urlsafe_b64decode(state + "=" * (-len(state) % 4))
        document = json.loads(raw[32:])
    except (binascii.Error, ValueError):
        return None
    offset = document.get("Offset") if isinstance(document, dict) else None
    return offset if isinstance(offset, int) and offset >= 0 else None


async def _registry_offset(services: Services, route: Route, scope: Scope) -> int | None:
    """The upload's size as the registry's upload status tells it (``Range: 0-N``)."""
    query = "&".join(
        part
        for part in scope.get("query_string", b"").decode("latin-1").split("&")
        if part and not part.startswith("digest=")
    )
    path = f"/v2/{route.name}/blobs/uploads/{route.reference}" + (f"?{query}" if query else "")
    try:
        status, headers, _ = await services.upstream.fetch("GET", route.name, path, ("push",))
    except HarborliteError:
        return None
    if status != 204:
        return None
    _, _, end = (headers.get("Range") or "").partition("-")
    return int(end) + 1 if end.isdigit() else None


async def _registry_blob_size(services: Services, repository: str, digest: str) -> int | None:
    try:
        status, headers, _ = await services.upstream.fetch(
            "HEAD", repository, f"/v2/{repository}/blobs/{digest}", ("pull",)
        )
    except HarborliteError:
        return None
    length = headers.get("Content-Length", "")
    return int(length) if status == 200 and length.isdigit() else None


async def _completed_size(
    services: Services, scope: Scope, route: Route, params: dict[str, list[str]]
) -> tuple[int, bool]:
    """The size a completing ``PUT`` gives the blob, and whether it is exact."""
    body = _content_length(scope)
    state = params.get("_state", [""])[0]
    before = state_offset(state) if state else None
    if before is None:
        before = upload_size_on_disk(services.storage_root, route.name, route.reference)
    if before is None:
        before = await _registry_offset(services, route, scope)
    return (before or 0) + (body or 0), before is not None and body is not None


async def _mounted_size(services: Services, source: str, digest: str) -> int | None:
    size = blob_size_on_disk(services.storage_root, digest)
    if size is not None:
        return size
    async with services.sessions() as session:
        size = await queries.known_size(session, digest)
    return size if size is not None else await _registry_blob_size(services, source, digest)


async def refused_upload(services: Services, scope: Scope, route: Route) -> Refusal | None:
    """An upload request (``route.kind`` UPLOAD: POST start or mount, PATCH, PUT completion
    with ``?digest=``); a Refusal, or None to go on."""
    method: str = scope["method"]
    if method not in ("POST", "PUT"):
        return None
    _listen(services)
    params = _params(scope)
    try:
        return await _checked_upload(services, scope, route, method, params)
    except Exception:
        log.exception("quota check of %s %s failed", method, route.name)
        return UNCHECKED


async def _checked_upload(
    services: Services, scope: Scope, route: Route, method: str, params: dict[str, list[str]]
) -> Refusal | None:
    clock = _window(services)
    digest = params.get("digest", [""])[0]
    mount = params.get("mount", [""])[0] if route.mount_from is not None else ""
    exact = True
    if method == "POST" and mount and is_digest(mount):
        assert route.mount_from is not None
        found = await _mounted_size(services, route.mount_from, mount)
        if found is None:  # not there to mount: the registry starts an upload instead
            return await _refused_start(services, route, clock)
        digest, size = mount, found
    elif method == "POST" and digest and is_digest(digest):
        length = _content_length(scope)
        size, exact = length or 0, length is not None
    elif method == "POST":
        return await _refused_start(services, route, clock)
    elif digest and is_digest(digest):
        size, exact = await _completed_size(services, scope, route, params)
    else:
        return None  # the registry refuses a completion without a digest

    async def reserve(
        session: AsyncSession, project_id: int, hard: int | None
    ) -> Reservation | Overflow:
        return await usage.reserve_blob(session, project_id, digest, size, clock, hard)

    outcome = await _in_transaction(services, reserve, route.project)
    if isinstance(outcome, Overflow):
        return _exceeded(services, route, outcome, digest)
    if outcome is not None:
        scope[RESERVED] = _Held(outcome, exact)
    return None


async def _refused_start(services: Services, route: Route, clock: Clock) -> Refusal | None:
    """An upload start: an unlimited project's (known from the last second) costs no query; a
    limited one's is refused when the project is over its limit already."""
    known = known_limits(services.sessions)
    if known.unlimited(route.project) is not None:
        return None
    async with services.sessions() as session:  # one query for a project within its limit
        at = known.reading()
        found = await queries.project_and_hard(session, route.project)
        known.learnt(route.project, found, at)
        if found is None:
            return None
        project_id, hard = found
        if hard == UNLIMITED:
            return None
        refused = await usage.refused_start(session, project_id, clock, hard)
    return None if refused is None else _exceeded(services, route, refused)


async def uploaded(
    services: Services,
    scope: Scope,
    route: Route,
    status: int,
    headers: Sequence[tuple[bytes, bytes]],
) -> None:
    """The registry answered an upload request (a 201 completes an upload or a mount)."""
    held: _Held | None = scope.pop(RESERVED, None)
    if held is None:
        return
    reservation = held.reservation
    try:
        if status != 201:  # refused, or a mount the registry turned into an upload (202)
            await _in_transaction(
                services,
                lambda session, _, __: usage.release(session, reservation),
                route.project,
            )
            return
        if held.exact:
            return
        size = blob_size_on_disk(services.storage_root, reservation.digest)
        if size is None:
            size = await _registry_blob_size(services, route.name, reservation.digest)
        if size is not None and size != reservation.size:
            await _in_transaction(
                services,
                lambda session, _, __: usage.confirm_size(session, reservation, size),
                route.project,
            )
    except Exception:  # the registry's answer goes out anyway; a recount repairs the usage
        log.exception("quota bookkeeping of %s %s failed", scope["method"], route.name)


async def refused_manifest_push(services: Services, route: Route, body: bytes) -> Refusal | None:
    """A manifest PUT with ``body``; a Refusal, or None to go on. Into a project known
    unlimited (within the last second) nothing can be refused: nothing is written here, the
    index's transaction records the manifest's quota rows with the artifact
    (:func:`record_manifest`)."""
    _listen(services)
    if known_limits(services.sessions).unlimited(route.project) is not None:
        return None
    push = usage.manifest_push(body)
    clock = _window(services)

    near: list[tuple[int, int]] = []

    async def reserve(session: AsyncSession, project_id: int, hard: int | None) -> Overflow | None:
        near.clear()  # a transaction tried again tells again
        return await usage.reserve_manifest(
            session, project_id, push, clock, lambda used, hard: near.append((used, hard)), hard
        )

    try:
        refused = await _in_transaction(services, reserve, route.project)
    except Exception:
        log.exception("quota check of the manifest push to %s failed", route.name)
        return UNCHECKED
    if refused is None:
        if near:
            _warned(services, route, push.digest, *near[-1])
        return None
    return _exceeded(services, route, refused, push.digest, _tag_of(route))


async def record_manifest(
    services: Services, session: AsyncSession, project_id: int, hard: int | None, body: bytes
) -> None:
    """In the index's transaction of a manifest the registry accepted: the quota rows of the
    manifest and what it names, unless :func:`refused_manifest_push` counted them already
    (a limited project's are always counted before the registry sees the manifest)."""
    await usage.record_manifest(
        session, project_id, hard, usage.manifest_push(body), _window(services)
    )


def _tag_of(route: Route) -> str | None:
    return None if is_digest(route.reference) else route.reference


async def manifest_answered(services: Services, route: Route, body: bytes, status: int) -> None:
    """The registry answered a manifest PUT with ``status``: a push it refused stops counting
    (the gateway calls this with every answer; only a refusal changes anything)."""
    if status == 201:
        return
    push = usage.manifest_push(body)
    since = _window(services).cutoff
    try:
        await _in_transaction(
            services,
            lambda session, project_id, _: usage.manifest_refused(
                session, project_id, push.digest, since
            ),
            route.project,
        )
    except Exception:
        log.exception("quota bookkeeping of the refused manifest push to %s failed", route.name)


def _listen(services: Services) -> None:
    """Make sure the registry's manifest deletes reach the quotas (the lifespan should add the
    listener itself; until it does, the first push through this process adds it)."""
    listeners = services.upstream.manifest_listeners
    if not any(isinstance(getattr(x, "__self__", None), usage.RegistryWrites) for x in listeners):
        listeners.append(usage.RegistryWrites(services.sessions).registry_wrote)
