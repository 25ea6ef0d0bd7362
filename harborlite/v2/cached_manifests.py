"""Manifest answers without the registry: from this process's cache, else from Redis.

A manifest GET or HEAD is answered from :class:`~harborlite.cache.manifests.ManifestCache`
when it holds what the registry answered, with the exact bytes and headers; else, with Redis
configured, from the shared level (and adopted here). Otherwise the registry answers, and what
it says is learnt here and shared with Redis (:meth:`CachedManifests.learnt`, the one place
that does both), under the generations read before the registry was asked. A HEAD teaches no
body, and a push forgets what its tag named: the manifest is then fetched once in the
background, so the pulls that follow are answered from the cache.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable

from starlette.types import Scope, Send

from harborlite.artifacts.pulls import Pull
from harborlite.auth.tokens import Claims
from harborlite.cache.manifests import ACCEPT_CACHEABLE, accepted_types
from harborlite.cache.shared import SharedLookup
from harborlite.errors import HarborliteError
from harborlite.http.origin import origin_of
from harborlite.oci.mediatypes import MAX_MANIFEST_BYTES
from harborlite.oci.reference import is_digest
from harborlite.services import Services
from harborlite.v2.routes import Route

# A manifest request carrying one of these is answered by the registry, never the cache.
_GO_TO_REGISTRY = frozenset({b"if-none-match", b"if-match", b"range", b"if-modified-since"})


def accept_values(scope: Scope) -> list[bytes]:
    return [value for key, value in scope["headers"] if key == b"accept"]


class CachedManifests:
    """The gateway's manifest answers; holds the background fills in flight."""

    def __init__(self) -> None:
        self._filling: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def answer(
        self, services: Services, scope: Scope, send: Send, route: Route, claims: Claims
    ) -> tuple[str | None, SharedLookup | None]:
        """Answer a manifest GET/HEAD from the cache or Redis, exactly as the registry did.
        Returns where the answer came from (None: not answered) and what Redis said, which
        the registry's answer is then shared under."""
        for key, _ in scope["headers"]:
            if key in _GO_TO_REGISTRY:
                return None, None
        accepted = accepted_types(accept_values(scope))
        cache = services.manifests
        entry = cache.lookup(route.name, route.reference, accepted)
        shared = None
        source = "cache"
        if entry is None:
            sync = services.manifest_sync
            if sync is None:
                return None, None
            generation = cache.generation(route.name)
            shared = await sync.shared.lookup(route.name, route.reference)
            if shared is None or shared.learnt is None:
                return None, shared
            cache.adopt(route.name, generation, shared.learnt)
            entry = shared.learnt.entry
            if entry is None or entry.media_type not in accepted:
                return None, shared
            source = "redis"
        head = scope["method"] == "HEAD"
        if not head:
            services.pulls.add(Pull(claims.subject, route.name, route.reference, origin_of(scope)))
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": b"" if head else entry.body})
        return source, shared

    async def learnt(
        self,
        services: Services,
        route: Route,
        generation: int,
        accept: Iterable[bytes],
        headers: Iterable[tuple[bytes, bytes]],
        body: bytes | None,
        shared: SharedLookup | None,
    ) -> None:
        """Keep a registry 200 answer to a manifest GET (``body``) or HEAD (None) here, then
        in Redis under the generation Redis gave before the registry was asked (no Redis
        answer then: nothing is shared). ``generation`` is this cache's, read before too."""
        learnt = services.manifests.learn(
            route.name, route.reference, generation, accepted_types(accept), headers, body
        )
        sync = services.manifest_sync
        if learnt is not None and shared is not None and sync is not None:
            await sync.shared.learnt(route.name, shared.generation, learnt)

    async def learnt_head(
        self,
        services: Services,
        scope: Scope,
        route: Route,
        generation: int,
        headers: Iterable[tuple[bytes, bytes]],
        digest: str | None,
        shared: SharedLookup | None,
    ) -> None:
        """A HEAD answer has no body: learn what it says, then fetch the manifest once, in the
        background, so the next HEAD or GET of it is answered from the cache (clients often
        HEAD, then GET)."""
        accept = accept_values(scope)
        await self.learnt(services, route, generation, accept, headers, None, shared)
        if digest and not services.manifests.holds(route.name, digest):
            self._fill_later(services, route, generation, accept, shared)

    def pushed(self, services: Services, route: Route) -> None:
        """The push made the cache forget the tag (pushes may be heard out of order); ask the
        registry what it names now, in the background."""
        if not is_digest(route.reference):
            generation = services.manifests.generation(route.name)
            self._fill_later(services, route, generation, [ACCEPT_CACHEABLE], None)

    def _fill_later(
        self,
        services: Services,
        route: Route,
        generation: int,
        accept: list[bytes],
        shared: SharedLookup | None,
    ) -> None:
        key = (route.name, route.reference)
        if key in self._filling:
            return
        task = asyncio.create_task(self._fill(services, route, generation, accept, shared))
        self._filling[key] = task
        task.add_done_callback(lambda _: self._filling.pop(key, None))

    async def _fill(
        self,
        services: Services,
        route: Route,
        generation: int,
        accept: list[bytes],
        shared: SharedLookup | None,
    ) -> None:
        sync = services.manifest_sync
        if shared is None and sync is not None:
            # Redis's generation, read before the registry is asked, so the answer is shared
            shared = await sync.shared.lookup(route.name, route.reference)
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
            await self.learnt(services, route, generation, accept, raw, body, shared)
