"""``/v2/`` requests into proxy-cache projects: refuse pushes, pull through on a miss.

:class:`ProxyCache` knows which projects are caches (looked up once per
:data:`TARGET_SECONDS` per project), refuses pushes into them (Harbor's 403 DENIED "can not
push artifact to a proxy project: <name>"), and answers what the local registry does not hold
yet from the endpoint, through :class:`harborlite.proxycache.pull_through.PullThrough`:

- a manifest by tag is checked upstream (``HEAD``) at most once per
  ``settings.proxy_check_seconds``; when upstream answers 429, cannot be reached, or its
  endpoint is unhealthy, the cached copy is served (and the fallback logged); a 404 upstream
  is a 404 unless ``proxy_cache_local_on_not_found`` says serve the cached copy;
- a manifest not cached is sent to the client as upstream gave it, and kept locally in the
  background;
- a blob not cached is streamed to the client as it arrives from upstream, while the same
  bytes go into a local upload (:mod:`harborlite.proxycache.fills`).

Everything else (what the local registry has) is served by the gateway's usual path.
"""

from __future__ import annotations

import logging
import time

from starlette.types import Scope, Send

from harborlite.artifacts.pulls import Pull
from harborlite.auth.tokens import Claims
from harborlite.endpoints.queries import get_endpoint
from harborlite.errors import HarborliteError
from harborlite.http.origin import origin_of
from harborlite.oci.reference import is_digest
from harborlite.proxycache import local
from harborlite.proxycache import queries as proxies
from harborlite.proxycache.fills import FillBroken
from harborlite.proxycache.proxy_settings import settings_of
from harborlite.proxycache.pull_through import Local, PullThrough, Target
from harborlite.remote.errors import RemoteError
from harborlite.remote.types import RemoteManifest
from harborlite.sealing import SecretBox
from harborlite.services import Services
from harborlite.v2.challenge import API_VERSION, Refusal, send_error
from harborlite.v2.routes import Route

log = logging.getLogger("harborlite.proxycache")

TARGET_SECONDS = 5.0  # how long a project's proxy binding is remembered
TOO_MANY = "too many requests to upstream registry"


def push_refusal(target: Target) -> Refusal:
    return Refusal(403, "DENIED", f"can not push artifact to a proxy project: {target.project}")


class ProxyCache:
    def __init__(self) -> None:
        self._targets: dict[str, tuple[float, Target | None]] = {}
        self._box: SecretBox | None = None
        self._pull: PullThrough | None = None

    async def close(self) -> None:
        """At shutdown: the remote clients' connections."""
        if self._pull is not None:
            await self._pull.close()

    def pull_through(self, services: Services) -> PullThrough:
        if self._pull is None:
            self._pull = PullThrough(services.settings.data_dir / "proxy-spool")
        return self._pull

    async def target(self, services: Services, project: str) -> Target | None:
        """The project's proxy binding, or None for an ordinary project."""
        now = time.monotonic()
        cached = self._targets.get(project)
        if cached is not None and now - cached[0] < TARGET_SECONDS:
            return cached[1]
        if self._box is None:
            self._box = SecretBox.for_data_dir(services.settings.data_dir)
        try:
            async with services.sessions() as session:
                found = await proxies.proxy_of_name(session, project)
                endpoint = None
                if found is not None:
                    endpoint = await get_endpoint(session, found[1], self._box)
        except Exception:  # no database: what was known stays, else an ordinary project
            log.warning("could not read whether %s is a proxy cache", project, exc_info=True)
            return cached[1] if cached is not None else None
        target = None
        if found is not None and endpoint is not None:
            row = found[0]
            target = Target(row.name, row.id, endpoint, settings_of(row.project_metadata))
        elif found is not None:
            log.warning("proxy project %s names endpoint %s, which is gone", project, found[1])
        self._targets[project] = (now, target)
        return target

    def _local(self, services: Services, scope: Scope, claims: Claims) -> Local:
        origin = origin_of(scope)

        def pulled(repository: str, reference: str) -> None:
            services.pulls.add(Pull(claims.subject, repository, reference, origin))

        return Local(services.upstream, services.storage, services.sessions, pulled)

    # -- manifests ----------------------------------------------------------------------
    async def manifest(
        self,
        services: Services,
        scope: Scope,
        send: Send,
        route: Route,
        claims: Claims,
        target: Target,
    ) -> str | None:
        """Answer a manifest GET/HEAD the cache cannot answer alone; None: serve local."""
        head = scope["method"] == "HEAD"
        pull = self.pull_through(services)
        reference = route.reference
        try:
            cached = await local.manifest_digest(services.upstream, route.name, reference)
        except HarborliteError:
            return None  # the gateway's usual path tells the client the registry is away
        manifest: RemoteManifest | None
        if is_digest(reference):
            if cached:
                return None
            try:
                manifest = await pull.fetch_manifest(target, route.name, reference)
            except RemoteError as error:
                return await _upstream_failed(send, target, error, head)
            tag = None
        else:
            tag = reference
            if cached and (
                target.endpoint.status == "unhealthy"
                or pull.recently_checked(route.name, tag, services.settings.proxy_check_seconds)
            ):
                return None
            try:
                upstream_digest = await pull.upstream_digest(target, route.name, tag)
            except RemoteError as error:
                if cached:
                    log.warning(
                        "proxy to %s failed for %s:%s (%s): serving the cached copy",
                        target.endpoint.name,
                        route.name,
                        tag,
                        error.message,
                    )
                    return None
                return await _upstream_failed(send, target, error, head)
            if upstream_digest is None:
                if cached and target.settings.local_on_not_found:
                    log.info("%s:%s is gone upstream: serving the cached copy", route.name, tag)
                    return None
                await send_error(
                    send,
                    404,
                    "MANIFEST_UNKNOWN",
                    f"manifest unknown: {tag} is not in {target.upstream_name(route.name)} "
                    f"upstream ({target.endpoint.name})",
                    head=head,
                )
                return "upstream"
            if upstream_digest == cached:
                return None
            try:
                manifest = await pull.fetch_manifest(target, route.name, upstream_digest)
            except RemoteError as error:
                if cached:
                    log.warning("proxy fetch failed (%s): serving the cached copy", error.message)
                    return None
                return await _upstream_failed(send, target, error, head)
        if manifest is None:
            await send_error(
                send, 404, "MANIFEST_UNKNOWN", f"manifest unknown: {reference}", head=head
            )
            return "upstream"
        pull.keep(self._local(services, scope, claims), target, route.name, manifest, tag, not head)
        await _send_manifest(send, manifest, head)
        return "upstream"

    # -- blobs --------------------------------------------------------------------------
    async def blob(
        self,
        services: Services,
        scope: Scope,
        send: Send,
        route: Route,
        claims: Claims,
        target: Target,
    ) -> int | None:
        """Stream a blob the local registry lacks from upstream; None: serve local."""
        if scope["method"] != "GET":
            return None
        pull = self.pull_through(services)
        try:
            if await local.has_blob(services.upstream, route.name, route.reference):
                return None
        except HarborliteError:
            return None
        where = self._local(services, scope, claims)
        fill, _ = pull.blob_fill(where, target, route.name, route.reference)
        spool = fill.reader()  # at once: no await between finding the fill and opening it
        size = await fill.wait_size()
        if size is None:
            spool.close()
            error = fill.error
            cause = error.__cause__ if error is not None else None
            if isinstance(cause, RemoteError):
                await _upstream_failed(send, target, cause, False)
                return cause.status or 503
            await send_error(send, 502, "UNKNOWN", f"upstream did not send {route.reference}")
            return 502
        headers = [
            (b"content-type", b"application/octet-stream"),
            (b"content-length", str(size).encode()),
            (b"docker-content-digest", route.reference.encode()),
            (b"etag", f'"{route.reference}"'.encode()),
            API_VERSION,
        ]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        try:
            async for chunk in fill.chunks(spool):
                await send({"type": "http.response.body", "body": chunk, "more_body": True})
        except FillBroken as error:  # the client sees a cut download, never wrong bytes
            log.warning("proxy blob %s broke while streaming: %s", route.reference, error)
            return 502  # the response left incomplete: the server drops the connection
        await send({"type": "http.response.body", "body": b""})
        return 200


async def _send_manifest(send: Send, manifest: RemoteManifest, head: bool) -> None:
    headers = [
        (b"content-type", manifest.media_type.encode()),
        (b"content-length", str(len(manifest.body)).encode()),
        (b"docker-content-digest", manifest.digest.encode()),
        (b"etag", f'"{manifest.digest}"'.encode()),
        API_VERSION,
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": b"" if head else manifest.body})


async def _upstream_failed(send: Send, target: Target, error: RemoteError, head: bool) -> str:
    """Nothing cached and upstream cannot give it: 429 passed on, else 503."""
    if error.status == 429:
        retry = (
            [(b"retry-after", str(int(error.retry_after)).encode())] if error.retry_after else []
        )
        await send_error(send, 429, "TOOMANYREQUESTS", TOO_MANY, headers=retry, head=head)
        return "refused"
    log.warning("proxy to %s failed: %s", target.endpoint.name, error.message)
    await send_error(
        send,
        503,
        "UNAVAILABLE",
        f"the upstream registry {target.endpoint.name} cannot be reached and nothing is cached",
        head=head,
    )
    return "refused"
