"""Manifest answers without the registry: from this process's cache, else from Redis.

A manifest GET or HEAD is answered from :class:`~harborlite.cache.manifests.ManifestCache`
when it holds what the registry answered, with the exact bytes and headers; else, with Redis
configured, from the shared level (and adopted here). Otherwise the registry answers, and what
it says is learnt here and shared with Redis (:meth:`CachedManifests.learnt`, the one place
that does both), under the generations read before the registry was asked. A HEAD teaches no
body, and a push forgets what its tag named: the manifest is then fetched once in the
background, so the pulls that follow are answered from the cache.

Misses are asked once (single flight): when the cache knows nothing of a reference (never
pulled here, or its tag's entry expired), the first request fetches it from the registry for
everyone, counted against its own client's budget, and the requests of the same reference that
come meanwhile wait for that one answer and are served from the cache; a thousand pullers of
one tag whose entry just expired cost the registry one request, not a thousand (and not a 429
of the per-client budget for most of them). The fetch accepts every cacheable type, so the
registry says what a tag really names (a client that accepts no lists may be answered one of
a list's images by tag: that answer never teaches the tag); a client whose Accept the cached
type does not suit is answered by the registry, as before. When the fetch's answer cannot be
kept (not a 200, not cacheable), each request goes to the registry as before, and for the next
:data:`UNCACHEABLE_SECONDS` that reference is not fetched ahead again (no doubled requests for
a storm of unknown tags).
"""

from __future__ import annotations

import asyncio
import time
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
from harborlite.v2.budget import proxied
from harborlite.v2.routes import Route

# A manifest request carrying one of these is answered by the registry, never the cache.
_GO_TO_REGISTRY = frozenset({b"if-none-match", b"if-match", b"range", b"if-modified-since"})
FLIGHT_WAIT_SECONDS = 30.0  # a request waits this long for the fetch in flight, then asks itself
UNCACHEABLE_SECONDS = 1.0  # a reference whose answer could not be kept is not fetched ahead
MAX_UNCACHEABLE = 10_000  # references remembered as such (past it, all are forgotten)


def accept_values(scope: Scope) -> list[bytes]:
    return [value for key, value in scope["headers"] if key == b"accept"]


class CachedManifests:
    """The gateway's manifest answers; holds the fetches in flight."""

    def __init__(self) -> None:
        # the fetches in flight (a miss asked for everyone, or a fill after a push or HEAD)
        self._flights: dict[tuple[str, str], asyncio.Task[bool]] = {}
        self._uncacheable: dict[tuple[str, str], float] = {}  # when an answer was not kept

    async def answer(
        self, services: Services, scope: Scope, send: Send, route: Route, claims: Claims
    ) -> tuple[str | None, SharedLookup | None]:
        """Answer a manifest GET/HEAD from the cache or Redis, exactly as the registry did.
        Returns where the answer came from (None: not answered) and what Redis said, which
        the registry's answer is then shared under."""
        for name, _ in scope["headers"]:
            if name in _GO_TO_REGISTRY:
                return None, None
        accepted = accepted_types(accept_values(scope))
        cache = services.manifests
        entry = cache.lookup(route.name, route.reference, accepted)
        shared = None
        source = "cache"
        if entry is None:
            sync = services.manifest_sync
            if sync is not None:
                generation = cache.generation(route.name)
                shared = await sync.shared.lookup(route.name, route.reference)
                if shared is not None and shared.learnt is not None:
                    cache.adopt(route.name, generation, shared.learnt)
                    entry = shared.learnt.entry
                    if entry is not None and entry.media_type in accepted:
                        source = "redis"
                    else:
                        entry = None
        if entry is None:
            if not cache.enabled or cache.knows(route.name, route.reference):
                return None, shared  # known, in a type this Accept is not served: the registry
            led = await self._asked_once(services, scope, route, shared)
            if led is None:
                return None, shared
            entry = cache.lookup(route.name, route.reference, accepted)
            if entry is None:  # what it names is not served to this Accept from the cache
                return None, shared
            source = "proxy" if led else "cache"  # the registry answered the one who asked
        head = scope["method"] == "HEAD"
        if not head:
            services.pulls.add(Pull(claims.subject, route.name, route.reference, origin_of(scope)))
        await send({"type": "http.response.start", "status": 200, "headers": entry.headers})
        await send({"type": "http.response.body", "body": b"" if head else entry.body})
        return source, shared

    async def _asked_once(
        self, services: Services, scope: Scope, route: Route, shared: SharedLookup | None
    ) -> bool | None:
        """Wait for the registry's answer to this reference, asked once for every request
        missing it at the same time: True when this request asked, False when it waited for
        another's (or a background fill's), None when there is no answer the cache kept (the
        caller asks the registry itself). The request that asks raises the budget's
        ``OverBudget`` when its client is over it, as its own request to the registry would."""
        key = (route.name, route.reference)
        refused_at = self._uncacheable.get(key)
        if refused_at is not None:
            if time.monotonic() - refused_at < UNCACHEABLE_SECONDS:
                return None
            del self._uncacheable[key]
        flight = self._flights.get(key)
        if flight is not None:
            return False if await self._waited(flight) else None
        with proxied(scope, None):  # counted against the client who asked first
            flight = self._take_off(services, route, shared)
            return True if await self._waited(flight) else None

    def _take_off(
        self, services: Services, route: Route, shared: SharedLookup | None
    ) -> asyncio.Task[bool]:
        """The one fetch of this reference: asked with every cacheable type accepted, so the
        registry names what the tag really points at (never one image of a list)."""
        key = (route.name, route.reference)
        generation = services.manifests.generation(route.name)  # before the registry is asked
        flight = asyncio.create_task(self._fetched(services, route, generation, shared))
        self._flights[key] = flight
        flight.add_done_callback(lambda done: self._landed(key, done))
        return flight

    async def _waited(self, flight: asyncio.Task[bool]) -> bool:
        try:
            async with asyncio.timeout(FLIGHT_WAIT_SECONDS):
                return await asyncio.shield(flight)  # a waiter gone does not stop the fetch
        except Exception:  # too slow, or failed: each request asks the registry itself
            return False

    def _landed(self, key: tuple[str, str], flight: asyncio.Task[bool]) -> None:
        self._flights.pop(key, None)
        if flight.cancelled() or flight.exception() is not None or not flight.result():
            if len(self._uncacheable) >= MAX_UNCACHEABLE:
                self._uncacheable.clear()
            self._uncacheable[key] = time.monotonic()

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
        await self.learnt(services, route, generation, accept_values(scope), headers, None, shared)
        if digest and not services.manifests.holds(route.name, digest):
            self._fill_later(services, route, shared)

    def pushed(self, services: Services, route: Route) -> None:
        """The push made the cache forget the tag (pushes may be heard out of order); ask the
        registry what it names now, in the background."""
        if not is_digest(route.reference):
            self._fill_later(services, route, None)

    def _fill_later(self, services: Services, route: Route, shared: SharedLookup | None) -> None:
        if (route.name, route.reference) not in self._flights:
            self._take_off(services, route, shared)

    async def _fetched(
        self, services: Services, route: Route, generation: int, shared: SharedLookup | None
    ) -> bool:
        """The registry's GET of the manifest, learnt here and shared; True when it was
        kept."""
        sync = services.manifest_sync
        if shared is None and sync is not None:
            # Redis's generation, read before the registry is asked, so the answer is shared
            shared = await sync.shared.lookup(route.name, route.reference)
        try:
            status, answer, body = await services.upstream.fetch(
                "GET",
                route.name,
                f"/v2/{route.name}/manifests/{route.reference}",
                ("pull",),
                headers={"Accept": ACCEPT_CACHEABLE.decode()},
                limit=MAX_MANIFEST_BYTES,
            )
        except HarborliteError:
            return False
        if status != 200:
            return False
        raw = [(k.encode("latin-1"), v.encode("latin-1")) for k, v in answer.items()]
        await self.learnt(services, route, generation, [ACCEPT_CACHEABLE], raw, body, shared)
        return services.manifests.knows(route.name, route.reference)
