"""The upstream registry client: two aiohttp sessions per process, opened in the lifespan.

The ``/v2/`` proxy has a pool of its own (:attr:`Upstream.proxy_session`), so clients, slow
or many, can never take the connections harborlite's own calls need (:attr:`Upstream.session`:
manifests, tag lists, tagging, reindex, GC, health). The proxy's pool has no bound of its
own: each proxied request holds a client connection, so the connection limit
(``HARBORLITE_MAX_CONNECTIONS``) and the per-client budget (:mod:`harborlite.v2.budget`)
bound it, and a queue for a pooled connection (which a slow client could make endless) never
forms.

harborlite's own calls (:meth:`Upstream.fetch`, and the calls of :mod:`harborlite.upstream.calls`)
give up after :data:`OWN_CALLS`, read whole answers up to a limit (refusing larger ones with
:class:`RegistryRefused`), and turn aiohttp's errors into :class:`UpstreamUnavailable` in one
place, :func:`reaching`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from typing import Any

import aiohttp

from harborlite.auth.scopes import Access
from harborlite.auth.tokens import TokenSigner
from harborlite.errors import RegistryRefused, UpstreamUnavailable

CHUNK = 1024 * 1024
# what harborlite reads of one answer of its own unless told otherwise: the registry's
# manifest limit (distribution 2.8 refuses manifests over 4 MiB)
ANSWER_LIMIT = 4 * 1024 * 1024
# harborlite's own small calls (manifests, tag lists, untag) give up after this long: a
# registry that accepts connections but never answers must not hold an API request forever
OWN_CALLS = aiohttp.ClientTimeout(total=30, sock_connect=10)
# connections harborlite's own calls keep to the registry at most (no client reaches them)
OWN_POOL = 64
# harborlite's own tokens live a minute; one is handed out again (same repository, same
# actions) while at least half of it is left, at most this many kept (not an ES256 signature
# for each of harborlite's own calls: one after every tag pushed)
OWN_TOKEN_SECONDS = 60
OWN_TOKEN_REUSE_SECONDS = 30
OWN_TOKENS_KEPT = 4096

_MANIFEST_PATH = re.compile(r"^/v2/(?P<name>.+)/manifests/(?P<reference>[^/]+)$")

ManifestWriteListener = Callable[[str, str, str, int, "str | None"], "Awaitable[None] | None"]
"""Called as (method, repository, reference, status, Docker-Content-Digest or None)."""


async def _manifest_written(listeners: list[ManifestWriteListener], params: Any) -> None:
    """Every manifest PUT or DELETE sent to the registry, by the proxy or by harborlite itself
    (API tag and artifact operations), reaches the listeners (the manifest cache) as soon as
    the registry's answer is in, before the client hears of it."""
    method = params.method
    if method not in ("PUT", "DELETE") or not listeners:
        return
    match = _MANIFEST_PATH.match(params.url.path)
    if match is None:
        return
    response = params.response
    digest = response.headers.get("Docker-Content-Digest")
    for listener in listeners:
        pending = listener(method, match["name"], match["reference"], response.status, digest)
        if pending is not None:
            await pending


class Upstream:
    """Talks to the registry: the proxy's transport, and harborlite's own calls."""

    def __init__(
        self,
        base_url: str,
        signer: TokenSigner,
        session: aiohttp.ClientSession,
        proxy_session: aiohttp.ClientSession | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.session = session  # harborlite's own calls
        self.proxy_session = proxy_session or session  # the /v2/ proxy's
        self.manifest_listeners: list[ManifestWriteListener] = []
        # (repository, actions) -> (Authorization value, monotonic time it is reused until)
        self._own_tokens: dict[tuple[str, tuple[str, ...]], tuple[str, float]] = {}

    @classmethod
    def open(cls, base_url: str, signer: TokenSigner, *, own_pool: int = OWN_POOL) -> Upstream:
        listeners: list[ManifestWriteListener] = []
        trace = aiohttp.TraceConfig()  # both pools' manifest writes reach the listeners
        trace.on_request_end.append(
            lambda session, context, params: _manifest_written(listeners, params)
        )
        own = _session(own_pool, trace)
        proxy = _session(0, trace)  # 0: no bound (see the module's docstring)
        upstream = cls(base_url, signer, own, proxy)
        upstream.manifest_listeners = listeners
        return upstream

    async def close(self) -> None:
        await self.session.close()
        if self.proxy_session is not self.session:
            await self.proxy_session.close()

    def own_authorization(self, repository: str, actions: tuple[str, ...]) -> str:
        """A short-lived token harborlite signs itself, with exactly the scope it needs (one
        signed less than half its lifetime ago for the same scope is given again)."""
        key = (repository, actions)
        now = time.monotonic()
        kept = self._own_tokens.get(key)
        if kept is not None and now < kept[1]:
            return kept[0]
        token, _, _ = self.signer.sign(
            "harborlite",
            [Access("repository", repository, actions)],
            expiration_seconds=OWN_TOKEN_SECONDS,
        )
        value = f"Bearer {token}"
        if len(self._own_tokens) >= OWN_TOKENS_KEPT:
            self._own_tokens = {k: v for k, v in self._own_tokens.items() if now < v[1]}
            if len(self._own_tokens) >= OWN_TOKENS_KEPT:
                self._own_tokens.clear()
        self._own_tokens[key] = (value, now + OWN_TOKEN_SECONDS - OWN_TOKEN_REUSE_SECONDS)
        return value

    async def fetch(
        self,
        method: str,
        repository: str,
        path: str,
        actions: tuple[str, ...],
        headers: dict[str, str] | None = None,
        limit: int = ANSWER_LIMIT,
    ) -> tuple[int, dict[str, str], bytes]:
        """A small request of harborlite's own (manifests, configs, tag lists): the status, the
        headers and the whole body (at most ``limit`` bytes; a larger answer is refused)."""
        request_headers = {"Authorization": self.own_authorization(repository, actions)}
        request_headers.update(headers or {})
        with reaching():
            async with self.session.request(
                method, f"{self.base_url}{path}", headers=request_headers, timeout=OWN_CALLS
            ) as response:
                body = await read_body(response, limit, path) if method != "HEAD" else b""
                return response.status, dict(response.headers), body


def _session(limit: int, trace: aiohttp.TraceConfig) -> aiohttp.ClientSession:
    connector = aiohttp.TCPConnector(limit=limit, keepalive_timeout=60, ttl_dns_cache=300)
    return aiohttp.ClientSession(
        connector=connector,
        auto_decompress=False,
        read_bufsize=CHUNK,
        timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
        skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
        trace_configs=[trace],
    )


@contextmanager
def reaching() -> Iterator[None]:
    """Around every call harborlite makes to the registry: a registry that cannot be reached, or
    does not answer within the call's timeout, is :class:`UpstreamUnavailable` (here, for
    harborlite's own calls; the streamed /v2/ proxy path has its own in v2/forward.py)."""
    try:
        yield
    except (aiohttp.ClientError, TimeoutError) as error:
        raise UpstreamUnavailable(f"registry unreachable: {error!r}") from None


async def read_body(response: aiohttp.ClientResponse, limit: int, what: str) -> bytes:
    """The whole body of ``response``, however the registry chunks it, up to ``limit`` bytes.

    One ``content.read(n)`` returns only what is buffered so far (about 64 KiB per network
    read), so the body is read until its end. Beyond ``limit`` it is refused, not cut."""
    length = response.content_length
    if length is not None and length > limit:
        raise _too_large(what, limit, length)
    parts: list[bytes] = []
    size = 0
    while True:
        part = await response.content.read(limit + 1 - size)
        if not part:
            return b"".join(parts)
        parts.append(part)
        size += len(part)
        if size > limit:
            raise _too_large(what, limit, None)


def _too_large(what: str, limit: int, length: int | None) -> RegistryRefused:
    told = f" ({length} bytes)" if length is not None else ""
    return RegistryRefused(
        f"the registry's answer for {what} is larger{told} than the {limit} bytes "
        "harborlite reads of it"
    )
