"""The ``/v2/`` gateway: route, authenticate, authorize, serve.

Pure ASGI on purpose: bodies pass through in chunks in both directions, no database session
is held while bytes flow, and every check happens before the first byte moves. Each step has
its module: :mod:`~harborlite.v2.bearer` (the token and what it covers),
:mod:`~harborlite.v2.blobs` (blobs read from storage), :mod:`~harborlite.v2.cached_manifests`
(manifests from the cache or Redis), :mod:`~harborlite.v2.forward` (the registry),
:mod:`~harborlite.v2.push_index` (the index after a push or delete) and
:mod:`~harborlite.v2.access_log`.
"""

from __future__ import annotations

import hashlib
import logging
import time

from starlette.types import Receive, Scope, Send

from harborlite.artifacts.pulls import Pull
from harborlite.artifacts.refusals import RefusalThrottle, Refused, record_refusal
from harborlite.audit.events import PUSH, Actor
from harborlite.auth.tokens import Claims, TokenError
from harborlite.cache.shared import SharedLookup
from harborlite.http.origin import header, origin_of
from harborlite.http.single_flight import SingleFlight
from harborlite.oci.json_reader import UnreadableJson, read_object
from harborlite.oci.mediatypes import MAX_MANIFEST_BYTES
from harborlite.oci.reference import is_digest, valid_repository_name
from harborlite.proxycache.pull_through import Target
from harborlite.services import Services, services_of
from harborlite.v2 import gc_fence, immutable_tags, quota_guard, signed_pulls, vulnerable_pulls
from harborlite.v2.access_log import access_logged
from harborlite.v2.bearer import VerifiedTokens, challenge_actions, covers, scope_text
from harborlite.v2.blobs import serve_blob_from_storage
from harborlite.v2.cached_manifests import CachedManifests, accept_values
from harborlite.v2.catalog import serve_catalog
from harborlite.v2.challenge import API_VERSION, Refusal, send_error, send_unauthorized
from harborlite.v2.direct_uploads import DirectUploads
from harborlite.v2.forward import (
    BodyTooLarge,
    ClientGone,
    RegistryUnreachable,
    read_limited,
    registry_answer,
    send_answer,
)
from harborlite.v2.proxy_cache import ProxyCache, push_refusal
from harborlite.v2.push_index import index_delete, index_failed, index_push
from harborlite.v2.referrers import serve_referrers
from harborlite.v2.routes import Kind, Route, parse_route, required_actions, stores_content
from harborlite.v2.tags_list import serve_tags_list

log = logging.getLogger("harborlite.v2")


class RegistryGateway:
    """ASGI app for every path under ``/v2``."""

    def __init__(self) -> None:
        self.tokens = VerifiedTokens()
        self.manifests = CachedManifests()
        self.refusals = RefusalThrottle()
        self.proxies = ProxyCache()
        # a project's proxy binding read once when it expires under load, not once per request
        self.proxy_reads: SingleFlight[Target | None] = SingleFlight()
        self.direct = DirectUploads()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            return
        services = services_of(scope)
        started = time.perf_counter()
        method: str = scope["method"]
        head = method == "HEAD"
        route = parse_route(scope["path"], scope.get("query_string", b""))
        if route is None:
            await send_error(send, 404, "NOT_FOUND", "no such registry endpoint", head=head)
            access_logged(scope, 404, started, "", "refused", "no such registry endpoint")
            return
        if route.name and not valid_repository_name(route.name):
            await send_error(
                send, 400, "NAME_INVALID", f"invalid repository name {route.name!r}", head=head
            )
            access_logged(scope, 400, started, "", "refused", "invalid repository name")
            return
        if route.named_like_project and stores_content(route, method):
            message = (
                f"repository name {route.name!r} is only a project name: push to "
                f"{route.name}/<name> (a repository lives inside a project)"
            )
            await send_error(
                send, 400, "NAME_INVALID", message, detail={"name": route.name}, head=head
            )
            access_logged(scope, 400, started, "", "refused", "repository named like its project")
            return
        settings = services.settings

        # 1. authenticate: a bearer token harborlite signed
        authorization = header(scope, b"authorization")
        needed = required_actions(route, method)
        if not authorization or not authorization.lower().startswith("bearer "):
            await send_unauthorized(send, settings, _wanted_scope(route, needed), head=head)
            access_logged(scope, 401, started, "", "refused", "no bearer token")
            return
        try:
            claims = self.tokens.verify(services.signer, authorization[7:].strip())
        except TokenError as error:
            await send_unauthorized(
                send,
                settings,
                _wanted_scope(route, needed),
                error.args[0],
                error="invalid_token",
                head=head,
            )
            access_logged(scope, 401, started, "", "refused", f"invalid token: {error.args[0]}")
            return

        revoked = services.revocations.refused(claims, route.project if route.name else None)
        if revoked is not None:  # a right it carries was taken away: ask the token service again
            await send_unauthorized(
                send,
                settings,
                _wanted_scope(route, needed),
                revoked,
                error="invalid_token",
                head=head,
            )
            access_logged(scope, 401, started, claims.subject, "refused", revoked)
            return

        # 2. authorize: the token's access must cover this method on this repository
        if route.kind is Kind.BASE:
            await self._base(send, head)
            access_logged(scope, 200, started, claims.subject, "harborlite")
            return
        if route.kind is Kind.CATALOG:
            await serve_catalog(services, scope, send, claims)
            access_logged(scope, 200, started, claims.subject, "harborlite")
            return
        if not covers(claims, route.name, needed):
            await self._refuse(services, scope, send, route, needed, claims, started)
            return
        if route.mount_from is not None and not covers(claims, route.mount_from, ("pull",)):
            await self._refuse_mount(
                services, scope, send, route, route.mount_from, claims, started
            )
            return

        # 3. serve: from storage, from the manifest cache, a proxy project's upstream, else
        # from the registry
        try:
            proxy = None
            if route.kind in (Kind.MANIFEST, Kind.BLOB, Kind.UPLOAD):
                project = route.project
                proxy = await self.proxy_reads.run(
                    project, lambda: self.proxies.target(services, project)
                )
                if proxy is not None and stores_content(route, method):
                    _check(push_refusal(proxy))
            if route.kind is Kind.BLOB and method in ("GET", "HEAD"):
                _check(await gc_fence.refused_blob(services, route))
                blob_status = await serve_blob_from_storage(services, scope, receive, send, route)
                if blob_status is not None:
                    access_logged(scope, blob_status, started, claims.subject, "storage")
                    return
                if proxy is not None:
                    blob_status = await self.proxies.blob(
                        services, scope, send, route, claims, proxy
                    )
                    if blob_status is not None:
                        access_logged(scope, blob_status, started, claims.subject, "proxy-cache")
                        return
            if route.kind is Kind.TAGS and method == "GET":  # the index pages; 2.8 does not
                status = await serve_tags_list(services, scope, send, route)
                access_logged(scope, status, started, claims.subject, "harborlite")
                return
            if route.kind is Kind.REFERRERS:  # the registry has no referrers API: ours
                status = await serve_referrers(services, scope, send, route)
                access_logged(scope, status, started, claims.subject, "harborlite")
                return
            shared = None
            if route.kind is Kind.MANIFEST and method in ("GET", "HEAD"):
                # before the cache answers: a signed-only project refuses what is not signed
                _check(await signed_pulls.refused_manifest_pull(services, route, claims))
                _check(await vulnerable_pulls.refused_manifest_pull(services, scope, route, claims))
                if proxy is not None:
                    served_by = await self.proxies.manifest(
                        services, scope, send, route, claims, proxy
                    )
                    if served_by is not None:
                        access_logged(scope, 200, started, claims.subject, "proxy-cache")
                        return
                served, shared = await self.manifests.answer(services, scope, send, route, claims)
                if served is not None:
                    access_logged(scope, 200, started, claims.subject, served)
                    return
            if route.kind is Kind.UPLOAD and method in ("POST", "PATCH", "PUT"):
                _check(await quota_guard.refused_upload(services, scope, route))
                _check(await gc_fence.refused_upload(services, scope, route))
            if self.direct.handles(services, scope, route):  # written into storage by us
                status = await self.direct.serve(services, scope, receive, send, route)
                access_logged(scope, status, started, claims.subject, "direct")
                return
            status = await self._forward(services, scope, receive, send, route, claims, shared)
        except PolicyRefused as refused:  # a project policy (quota, immutability), or the GC
            answer = refused.refusal
            await send_error(
                send, answer.status, answer.code, answer.message, detail=answer.detail, head=head
            )
            access_logged(scope, answer.status, started, claims.subject, "refused", answer.message)
            return
        access_logged(scope, status, started, claims.subject, "proxy")

    async def _base(self, send: Send, head: bool) -> None:
        body = b"{}"
        await send(
            {
                "type": "http.response.start",
                "status": 200,
                "headers": [
                    (b"content-type", b"application/json; charset=utf-8"),
                    (b"content-length", b"2"),
                    API_VERSION,
                ],
            }
        )
        await send({"type": "http.response.body", "body": b"" if head else body})

    async def _refuse(
        self,
        services: Services,
        scope: Scope,
        send: Send,
        route: Route,
        needed: tuple[str, ...],
        claims: Claims,
        started: float,
    ) -> None:
        """The token does not cover this request: 404 when the project does not exist (a pull
        is told just that, a push also to create it first), else 401 ``insufficient_scope``."""
        method: str = scope["method"]
        head = method == "HEAD"
        action = ",".join(needed)
        who = claims.subject or "anonymous"
        reason = f"denied: {action} on {route.name} (as {who})"
        refused = Refused(route.name, _reference_of(route), method)
        exists = await self._recorded(services, scope, claims, refused, reason)
        if not exists:
            message = f"project {route.project} not found"
            if refused.operation == PUSH:
                message += f": create it before pushing to {route.name}"
            await send_error(
                send, 404, "NAME_UNKNOWN", message, detail={"name": route.name}, head=head
            )
            access_logged(scope, 404, started, claims.subject, "refused", message)
            return
        await send_unauthorized(
            send,
            services.settings,
            challenge_scope(route, needed),
            f"unauthorized to access repository: {route.name}, action: {action} (as {who})",
            error="insufficient_scope",
            head=head,
        )
        access_logged(scope, 401, started, claims.subject, "refused", reason)

    async def _refuse_mount(
        self,
        services: Services,
        scope: Scope,
        send: Send,
        route: Route,
        source: str,
        claims: Claims,
        started: float,
    ) -> None:
        """A cross-repository mount whose source the caller may not read: 401 naming both
        scopes, as distribution does, so a token asked from this challenge covers the mount."""
        who = claims.subject or "anonymous"
        reason = f"denied: pull on {source}, the mount source (as {who})"
        await self._recorded(services, scope, claims, Refused(route.name, "", "POST"), reason)
        await send_unauthorized(
            send,
            services.settings,
            challenge_scope(route, ("pull", "push")),
            f"unauthorized to access repository: {source}, action: pull (as {who}): "
            f"needed to mount a blob from it into {route.name}",
            error="insufficient_scope",
        )
        access_logged(scope, 401, started, claims.subject, "refused", reason)

    async def _recorded(
        self, services: Services, scope: Scope, claims: Claims, refused: Refused, reason: str
    ) -> bool:
        """Audit the refusal; whether its project exists. Without a database the refusal still
        goes out (as a 401: with no answer, the project is not said to be missing)."""
        actor = Actor(claims.subject, origin_of(scope))
        write = self.refusals.worth_recording(actor.username, actor.origin.client_ip, refused)
        try:
            async with services.sessions() as session:
                exists = await record_refusal(session, actor, refused, reason, write=write)
                await session.commit()
                return exists
        except Exception:
            log.warning(
                "could not audit a refused %s of %s",
                refused.operation,
                refused.repository,
                exc_info=True,
            )
            return True

    async def _forward(
        self,
        services: Services,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        claims: Claims,
        shared: SharedLookup | None,
    ) -> int:
        """The registry answers; the index and the manifest cache learn from what it said."""
        method: str = scope["method"]
        manifest = route.kind is Kind.MANIFEST
        body: bytes | None = None
        if manifest and method == "PUT":
            try:
                body = await read_limited(receive, MAX_MANIFEST_BYTES)
            except BodyTooLarge:
                await send_error(send, 400, "MANIFEST_INVALID", "manifest is larger than 4 MiB")
                return 400
            except ClientGone:
                return 499
            try:  # before anything else reads it, and before the registry sees it
                read_object(body, "manifest", max_bytes=MAX_MANIFEST_BYTES)
            except UnreadableJson as error:
                await send_error(send, 400, "MANIFEST_INVALID", str(error))
                return 400
            if not is_digest(route.reference):
                body_digest = "sha256:" + hashlib.sha256(body).hexdigest()
                _check(await immutable_tags.refused_manifest_push(services, route, body_digest))
            _check(await gc_fence.refused_manifest(services, body))
            # last: it records the manifest as it checks it, so nothing refuses after it
            _check(await quota_guard.refused_manifest_push(services, route, body))
        elif manifest and method == "DELETE":
            _check(await immutable_tags.refused_manifest_delete(services, route))
        learn = manifest and method in ("GET", "HEAD")
        generation = services.manifests.generation(route.name)  # before the registry is asked
        try:
            async with registry_answer(services, scope, receive, body) as response:
                status = response.status
                digest = response.headers.get("Docker-Content-Digest")
                if manifest and method == "PUT":
                    assert body is not None
                    await quota_guard.manifest_answered(services, route, body, status)
                extra_headers: list[tuple[bytes, bytes]] = []
                if manifest and method == "PUT" and status == 201:
                    assert body is not None
                    try:
                        content_type = header(scope, b"content-type")
                        pushed = await index_push(
                            services, scope, route, claims, body, content_type, digest
                        )
                    except Exception as error:  # told to the client in the registry's envelope
                        return await index_failed(scope, send, route, error)
                    self.manifests.pushed(services, route)
                    if pushed.subject_digest:  # OCI 1.1: this registry serves referrers
                        extra_headers.append((b"oci-subject", pushed.subject_digest.encode()))
                elif manifest and method == "DELETE" and status == 202:
                    try:
                        await index_delete(services, scope, route, claims)
                    except Exception as error:  # told to the client in the registry's envelope
                        return await index_failed(scope, send, route, error)
                elif route.kind is Kind.UPLOAD and method in ("POST", "PUT"):
                    await quota_guard.uploaded(services, scope, route, status, response.raw_headers)
                elif route.kind is Kind.BLOB and status == 307:  # to the bucket, presigned
                    services.metrics.redirected_to_storage()
                elif manifest and method == "GET" and status == 200:
                    pull = Pull(claims.subject, route.name, route.reference, origin_of(scope))
                    services.pulls.add(pull)
                learn = learn and status == 200
                head = method == "HEAD"
                keep = MAX_MANIFEST_BYTES if learn and not head else 0
                kept = await send_answer(
                    services, send, response, head=head, keep=keep, extra_headers=extra_headers
                )
                if learn and head:
                    await self.manifests.learnt_head(
                        services, scope, route, generation, response.raw_headers, digest, shared
                    )
                elif learn and kept is not None:
                    await self.manifests.learnt(
                        services,
                        route,
                        generation,
                        accept_values(scope),
                        response.raw_headers,
                        kept,
                        shared,
                    )
                return status
        except RegistryUnreachable:
            if manifest and method == "PUT" and body is not None:
                await quota_guard.manifest_answered(services, route, body, 503)
            await send_error(
                send, 503, "UNAVAILABLE", "the registry behind harborlite is unavailable"
            )
            return 503
        except ClientGone:
            return 499


class PolicyRefused(Exception):
    def __init__(self, refusal: Refusal) -> None:
        super().__init__(refusal.message)
        self.refusal = refusal


def _check(refusal: Refusal | None) -> None:
    if refusal is not None:
        raise PolicyRefused(refusal)


def _wanted_scope(route: Route, needed: tuple[str, ...]) -> str | None:
    """The scope a 401 for a missing, invalid or revoked token names (built only then)."""
    if route.kind is Kind.CATALOG:
        return "registry:catalog:*"
    return challenge_scope(route, challenge_actions(needed)) if needed else None


def challenge_scope(route: Route, actions: tuple[str, ...]) -> str:
    """The scope a challenge names: the repository's, and a mount's source's pull with it."""
    wanted = scope_text(route.name, actions)
    if route.mount_from is not None:
        wanted += " " + scope_text(route.mount_from, ("pull",))
    return wanted


def _reference_of(route: Route) -> str:
    """What the audit names beside the repository: a manifest's tag or digest, a blob's digest."""
    return route.reference if route.kind in (Kind.MANIFEST, Kind.BLOB) else ""
