"""The ``/v2/`` gateway: verify the bearer token, check its access, stream to the registry.

Pure ASGI on purpose: bodies pass through in chunks in both directions, no database session
is held while bytes flow, and every check happens before the first byte moves.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import time
from collections.abc import AsyncIterator

import aiohttp
from sqlalchemy.exc import IntegrityError, OperationalError
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from harborlite.artifacts import queries as artifacts
from harborlite.artifacts.describe import describe_manifest
from harborlite.artifacts.pulls import Pull
from harborlite.audit.events import DELETE, PUSH, AuditEvent, Origin, record
from harborlite.auth.tokens import Claims, TokenError
from harborlite.cache.manifests import ACCEPT_CACHEABLE, Learnt, accepted_types
from harborlite.cache.shared import SharedLookup
from harborlite.errors import HarborliteError
from harborlite.oci.mediatypes import MAX_MANIFEST_BYTES
from harborlite.oci.reference import is_digest, valid_repository_name
from harborlite.projects import queries as projects
from harborlite.services import Services, services_of
from harborlite.upstream.client import CHUNK
from harborlite.v2.blobs import serve_blob_from_storage
from harborlite.v2.catalog import serve_catalog
from harborlite.v2.challenge import API_VERSION, send_error, send_unauthorized
from harborlite.v2.routes import Kind, Route, parse_route, required_actions

log = logging.getLogger("harborlite.access")

HOP_BY_HOP = frozenset(
    {
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"te",
        b"trailer",
        b"trailers",
        b"transfer-encoding",
        b"upgrade",
        b"host",
    }
)


TOKEN_LEEWAY = 60  # seconds past ``exp`` a token is still accepted (as TokenSigner.verify)
VERIFIED_TOKENS_KEPT = 10_000
# A manifest request carrying one of these is answered by the registry, never the cache.
_GO_TO_REGISTRY = frozenset({b"if-none-match", b"if-match", b"range", b"if-modified-since"})


class ClientGone(Exception):
    pass


class IndexRefused(Exception):
    """The index cannot record a change the registry made; the message tells the client."""


INDEX_ATTEMPTS = 3


def header(scope: Scope, name: bytes) -> str | None:
    for key, value in scope["headers"]:
        if key == name:
            return str(value.decode("latin-1"))
    return None


def origin_of(scope: Scope) -> Origin:
    client = scope.get("client")
    return Origin(
        client_ip=client[0] if client else "",
        user_agent=header(scope, b"user-agent") or "",
    )


def covers(claims: Claims, name: str, actions: tuple[str, ...]) -> bool:
    granted: set[str] = set()
    for entry in claims.access:
        if entry.type == "repository" and entry.name == name:
            granted.update(entry.actions)
    return "*" in granted or all(action in granted for action in actions)


def challenge_actions(needed: tuple[str, ...]) -> tuple[str, ...]:
    """What a challenge asks for. A read asks ``pull,push``: the token service grants only
    what the caller may do, and clients that keep one token per repository (oras) can then
    push with it instead of failing on a pull-only token."""
    return ("pull", "push") if needed == ("pull",) else needed


def scope_text(name: str, actions: tuple[str, ...]) -> str:
    return f"repository:{name}:{','.join(actions)}"


class RegistryGateway:
    """ASGI app for every path under ``/v2``."""

    def __init__(self) -> None:
        self._verified: dict[bytes, Claims] = {}
        self._filling: dict[tuple[str, str], asyncio.Task[None]] = {}

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
            return
        if route.name and not valid_repository_name(route.name):
            await send_error(
                send, 400, "NAME_INVALID", f"invalid repository name {route.name!r}", head=head
            )
            return
        settings = services.settings

        # 1. authenticate: a bearer token harborlite signed
        authorization = header(scope, b"authorization")
        needed = required_actions(route, method)
        wanted_scope = None
        if route.kind is Kind.CATALOG:
            wanted_scope = "registry:catalog:*"
        elif needed:
            wanted_scope = scope_text(route.name, challenge_actions(needed))
        if not authorization or not authorization.lower().startswith("bearer "):
            await send_unauthorized(send, settings, wanted_scope, head=head)
            return
        try:
            claims = self._verify(services, authorization[7:].strip())
        except TokenError as error:
            await send_unauthorized(
                send, settings, wanted_scope, error.args[0], error="invalid_token", head=head
            )
            return

        # 2. authorize: the token's access must cover this method on this repository
        if route.kind is Kind.BASE:
            await self._base(send, head)
            return
        if route.kind is Kind.CATALOG:
            await serve_catalog(services, scope, send, claims)
            return
        if not covers(claims, route.name, needed) or (
            route.mount_from is not None and not covers(claims, route.mount_from, ("pull",))
        ):
            await self._refuse(services, send, route, needed, claims, head)
            return

        # 3. serve
        if route.kind is Kind.BLOB and method in ("GET", "HEAD"):
            blob_status = await serve_blob_from_storage(services, scope, receive, send, route)
            if blob_status is not None:
                self._log(scope, route, blob_status, started, claims.subject, "storage")
                return
        shared = None
        if route.kind is Kind.MANIFEST and method in ("GET", "HEAD"):
            served, shared = await self._from_cache(services, scope, send, route, claims, head)
            if served is not None:
                self._log(scope, route, 200, started, claims.subject, served)
                return
        status = await self._proxy(services, scope, receive, send, route, claims, shared)
        self._log(scope, route, status, started, claims.subject, "proxy")

    def _verify(self, services: Services, token: str) -> Claims:
        """Verify a bearer token once; later requests with it reuse the claims until it expires.

        A signature check (ES256 now, RS256 with older keys) costs about 0.1 ms, as much as the
        rest of a cached manifest answer; a client sends one token for a whole pull.
        """
        cache = self._verified
        key = hashlib.sha256(token.encode()).digest()  # a token with x5c is about 3 KB
        claims = cache.get(key)
        if claims is not None and time.time() <= claims.expires_at + TOKEN_LEEWAY:
            return claims
        claims = services.signer.verify(token)
        if len(cache) >= VERIFIED_TOKENS_KEPT:
            cache.clear()
        cache[key] = claims
        return claims

    async def _from_cache(
        self,
        services: Services,
        scope: Scope,
        send: Send,
        route: Route,
        claims: Claims,
        head: bool,
    ) -> tuple[str | None, SharedLookup | None]:
        """Answer a manifest GET/HEAD from the manifest cache, exactly as the registry did:
        from this process's memory, else from the shared level in Redis when configured.
        Returns where the answer came from (None: not answered) and what Redis said."""
        cache = services.manifests
        if cache is None:
            return None, None
        accept: list[bytes] = []
        for key, value in scope["headers"]:
            if key == b"accept":
                accept.append(value)
            elif key in _GO_TO_REGISTRY:
                return None, None
        accepted = accepted_types(accept)
        entry = cache.lookup(route.name, route.reference, accepted)
        shared = None
        source = "cache"
        if entry is None:
            sync = services.manifest_sync
            if sync is None:
                return None, None
            generation = cache.generation(route.name)
            shared = await sync.lookup(route.name, route.reference)
            if shared is None or shared.learnt is None:
                return None, shared
            cache.adopt(route.name, generation, shared.learnt)
            entry = shared.learnt.entry
            if entry is None or entry.media_type not in accepted:
                return None, shared
            source = "redis"
        if not head:
            services.pulls.add(Pull(claims.subject, route.name, route.reference, origin_of(scope)))
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": b"" if head else entry.body})
        return source, shared

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
        send: Send,
        route: Route,
        needed: tuple[str, ...],
        claims: Claims,
        head: bool,
    ) -> None:
        async with services.sessions() as session:
            project = await projects.get_project_by_name(session, route.project)
        if project is None:
            await send_error(
                send,
                404,
                "NAME_UNKNOWN",
                f"project {route.project} not found: create it before pushing to {route.name}",
                detail={"name": route.name},
                head=head,
            )
            return
        action = ",".join(needed)
        who = claims.subject or "anonymous"
        await send_unauthorized(
            send,
            services.settings,
            scope_text(route.name, needed),
            f"unauthorized to access repository: {route.name}, action: {action} (as {who})",
            error="insufficient_scope",
            head=head,
        )

    async def _proxy(
        self,
        services: Services,
        scope: Scope,
        receive: Receive,
        send: Send,
        route: Route,
        claims: Claims,
        shared: SharedLookup | None = None,
    ) -> int:
        method: str = scope["method"]
        upstream = services.upstream
        is_manifest_put = route.kind is Kind.MANIFEST and method == "PUT"
        headers: list[tuple[str, str]] = []
        content_type = None
        for key, value in scope["headers"]:
            if key in HOP_BY_HOP:
                continue
            if key == b"content-type":
                content_type = value.decode("latin-1")
            headers.append((key.decode("latin-1"), value.decode("latin-1")))
        host = header(scope, b"host") or services.settings.external_host
        headers.append(("Host", host))
        headers.append(("X-Forwarded-Proto", services.settings.external_url.split(":", 1)[0]))

        data: bytes | AsyncIterator[bytes] | None = None
        manifest_body = b""
        if is_manifest_put:
            manifest_body = await self._read_limited(receive, MAX_MANIFEST_BYTES)
            if len(manifest_body) > MAX_MANIFEST_BYTES:
                await send_error(send, 400, "MANIFEST_INVALID", "manifest is larger than 4 MiB")
                return 400
            data = manifest_body
            headers = [(k, v) for k, v in headers if k.lower() != "content-length"]
        elif method in ("PUT", "PATCH", "POST") and self._has_body(scope):
            data = self._stream_request(receive)

        raw_path = scope.get("raw_path") or scope["path"].encode()
        query = scope.get("query_string", b"")
        url = upstream.base_url + raw_path.decode("latin-1")
        if query:
            url += "?" + query.decode("latin-1")
        cache = services.manifests
        learn = cache is not None and route.kind is Kind.MANIFEST and method in ("GET", "HEAD")
        generation = cache.generation(route.name) if cache is not None else 0
        try:
            response_cm = upstream.session.request(
                method,
                URL(url, encoded=True),
                headers=headers,
                data=data,
                allow_redirects=False,
                auto_decompress=False,
            )
            response = await response_cm.__aenter__()
        except (aiohttp.ClientError, OSError) as error:
            log.error("registry unreachable for %s %s: %s", method, scope["path"], error)
            await send_error(
                send, 503, "UNAVAILABLE", "the registry behind harborlite is unavailable"
            )
            return 503
        except ClientGone:
            return 499
        try:
            status = response.status
            if is_manifest_put and status == 201:
                try:
                    await self._index_push(
                        services, scope, route, claims, response, manifest_body, content_type
                    )
                except Exception as error:  # told to the client in the registry's envelope
                    return await self._index_failed(scope, send, route, error)
                if cache is not None and not is_digest(route.reference):
                    # The push made the cache forget the tag (pushes may be heard out of
                    # order); ask the registry what it names now, in the background, so the
                    # pulls that follow a push are answered from the cache.
                    generation = cache.generation(route.name)
                    self._fill_later(services, route, generation, [ACCEPT_CACHEABLE], None)
            elif route.kind is Kind.MANIFEST and method == "DELETE" and status == 202:
                try:
                    await self._index_delete(services, scope, route, claims)
                except Exception as error:  # told to the client in the registry's envelope
                    return await self._index_failed(scope, send, route, error)
            elif route.kind is Kind.MANIFEST and method == "GET" and status == 200:
                services.pulls.add(
                    Pull(claims.subject, route.name, route.reference, origin_of(scope))
                )
            await send(
                {
                    "type": "http.response.start",
                    "status": status,
                    "headers": self._response_headers(services, response),
                }
            )
            learn = learn and status == 200
            if method == "HEAD":
                await send({"type": "http.response.body", "body": b""})
                if learn and cache is not None:
                    accept = [v for k, v in scope["headers"] if k == b"accept"]
                    learnt = cache.learn(
                        route.name,
                        route.reference,
                        generation,
                        accepted_types(accept),
                        response.raw_headers,
                        None,
                    )
                    await self._share(services, route, shared, learnt)
                    digest = response.headers.get("Docker-Content-Digest")
                    if digest and not cache.holds(route.name, digest):
                        self._fill_later(services, route, generation, accept, shared)
                return status
            kept: list[bytes] | None = [] if learn else None
            kept_size = 0
            async for chunk in response.content.iter_chunked(CHUNK):
                if kept is not None:
                    kept_size += len(chunk)
                    kept = kept if kept_size <= MAX_MANIFEST_BYTES else None
                    if kept is not None:
                        kept.append(chunk)
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
            await send({"type": "http.response.body", "body": b""})
            if kept is not None and cache is not None:
                learnt = cache.learn(
                    route.name,
                    route.reference,
                    generation,
                    accepted_types(v for k, v in scope["headers"] if k == b"accept"),
                    response.raw_headers,
                    b"".join(kept),
                )
                await self._share(services, route, shared, learnt)
            return status
        finally:
            response.release()
            await response_cm.__aexit__(None, None, None)

    @staticmethod
    async def _share(
        services: Services, route: Route, shared: SharedLookup | None, learnt: Learnt | None
    ) -> None:
        """Put what the registry just taught into Redis too, under the generation Redis
        gave before the registry was asked (no Redis answer then: nothing is shared)."""
        if learnt is not None and shared is not None and services.manifest_sync is not None:
            await services.manifest_sync.learnt(route.name, shared.generation, learnt)

    def _fill_later(
        self,
        services: Services,
        route: Route,
        generation: int,
        accept: list[bytes],
        shared: SharedLookup | None,
    ) -> None:
        """A HEAD answer has no body: fetch the manifest once, in the background, so the
        next HEAD or GET of it is answered from the cache (clients often HEAD, then GET)."""
        key = (route.name, route.reference)
        if key in self._filling:
            return
        task = asyncio.create_task(self._fill(services, route, generation, accept, shared))
        self._filling[key] = task
        task.add_done_callback(lambda _: self._filling.pop(key, None))

    @staticmethod
    async def _fill(
        services: Services,
        route: Route,
        generation: int,
        accept: list[bytes],
        shared: SharedLookup | None,
    ) -> None:
        cache = services.manifests
        if cache is None:
            return
        if shared is None and services.manifest_sync is not None:
            # Redis's generation, read before the registry is asked, so the answer is shared
            shared = await services.manifest_sync.lookup(route.name, route.reference)
        headers = {"Accept": ", ".join(v.decode("latin-1") for v in accept)} if accept else {}
        try:
            status, answer, body = await services.upstream.fetch(
                "GET",
                route.name,
                f"/v2/{route.name}/manifests/{route.reference}",
                ("pull",),
                headers=headers,
                limit=MAX_MANIFEST_BYTES,
            )
        except HarborliteError:
            return
        if status == 200:
            raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.items()]
            learnt = cache.learn(
                route.name, route.reference, generation, accepted_types(accept), raw, body
            )
            await RegistryGateway._share(services, route, shared, learnt)

    @staticmethod
    def _has_body(scope: Scope) -> bool:
        length = header(scope, b"content-length")
        if length is not None:
            return length.strip() != "0"
        return header(scope, b"transfer-encoding") is not None

    @staticmethod
    async def _stream_request(receive: Receive) -> AsyncIterator[bytes]:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                yield chunk
            if not message.get("more_body", False):
                return

    @staticmethod
    async def _read_limited(receive: Receive, limit: int) -> bytes:
        parts: list[bytes] = []
        size = 0
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            size += len(chunk)
            if size <= limit:
                parts.append(chunk)
            if not message.get("more_body", False):
                break
        return b"".join(parts) if size <= limit else b"x" * (limit + 1)

    @staticmethod
    def _response_headers(
        services: Services, response: aiohttp.ClientResponse
    ) -> list[tuple[bytes, bytes]]:
        result: list[tuple[bytes, bytes]] = []
        upstream_base = services.upstream.base_url.encode()
        external = services.settings.external_url.encode()
        for key, value in response.raw_headers:
            lower = key.lower()
            if lower in HOP_BY_HOP:
                continue
            if lower == b"location" and value.startswith(upstream_base):
                value = external + value[len(upstream_base) :]
            result.append((lower, value))
        return result

    @staticmethod
    async def _index_failed(scope: Scope, send: Send, route: Route, error: Exception) -> int:
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
        message = (
            error.args[0]
            if isinstance(error, IndexRefused)
            else f"the registry accepted the change but harborlite could not record it; "
            f"`harborlite reindex` repairs this (request id {request_id})"
        )
        await send_error(send, 500, "UNKNOWN", message)
        return 500

    async def _index_push(
        self,
        services: Services,
        scope: Scope,
        route: Route,
        claims: Claims,
        response: aiohttp.ClientResponse,
        body: bytes,
        content_type: str | None,
    ) -> None:
        """Record the push before the client hears it succeeded."""
        digest = response.headers.get("Docker-Content-Digest") or route.reference
        tag = None if is_digest(route.reference) else route.reference
        for attempt in range(INDEX_ATTEMPTS):
            try:
                await self._record_push(
                    services, scope, route, claims, body, content_type, digest, tag
                )
                return
            except (IntegrityError, OperationalError) as error:
                # a concurrent push created the same repository, artifact or tag first (the
                # next attempt finds the row and updates it), or SQLite was busy writing
                retry = isinstance(error, IntegrityError) or "locked" in str(error)
                if not retry or attempt == INDEX_ATTEMPTS - 1:
                    raise
                await asyncio.sleep(0.05 * (attempt + 1))

    async def _record_push(
        self,
        services: Services,
        scope: Scope,
        route: Route,
        claims: Claims,
        body: bytes,
        content_type: str | None,
        digest: str,
        tag: str | None,
    ) -> None:
        async with services.sessions() as session:
            project = await projects.get_project_by_name(session, route.project)
            if project is None:  # deleted between the token and now
                raise IndexRefused(
                    f"project {route.project} was deleted during the push; the registry holds "
                    "the manifest but harborlite does not list it"
                )
            pushed = await describe_manifest(
                services.upstream, session, route.name, body, content_type, digest
            )
            await artifacts.record_push(
                session,
                project_id=project.id,
                repository_name=route.name,
                manifest=pushed,
                tag=tag,
                pusher=claims.subject,
            )
            record(
                session,
                AuditEvent(
                    username=claims.subject,
                    operation=PUSH,
                    resource_type="artifact",
                    resource=f"{route.name}:{tag}" if tag else f"{route.name}@{digest}",
                    origin=origin_of(scope),
                    project_id=project.id,
                ),
            )
            await session.commit()

    async def _index_delete(
        self, services: Services, scope: Scope, route: Route, claims: Claims
    ) -> None:
        async with services.sessions() as session:
            repository = await artifacts.get_repository(session, route.name)
            if repository is not None:
                if is_digest(route.reference):
                    await artifacts.delete_artifact(session, repository, route.reference)
                else:
                    await artifacts.delete_tag(session, repository, route.reference)
            project = await projects.get_project_by_name(session, route.project)
            separator = "@" if is_digest(route.reference) else ":"
            record(
                session,
                AuditEvent(
                    username=claims.subject,
                    operation=DELETE,
                    resource_type="artifact" if separator == "@" else "tag",
                    resource=f"{route.name}{separator}{route.reference}",
                    origin=origin_of(scope),
                    project_id=project.id if project else None,
                ),
            )
            await session.commit()

    @staticmethod
    def _log(
        scope: Scope, route: Route, status: int, started: float, user: str, path_kind: str
    ) -> None:
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %s %.1fms user=%s via=%s rid=%s",
                scope["method"],
                scope["path"],
                status,
                (time.perf_counter() - started) * 1000,
                user or "anonymous",
                path_kind,
                header(scope, b"x-request-id") or "-",
            )
