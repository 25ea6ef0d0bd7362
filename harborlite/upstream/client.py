"""The upstream registry client: one aiohttp session per process, opened in the lifespan."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Any

import aiohttp

from harborlite.auth.scopes import Access
from harborlite.auth.tokens import TokenSigner
from harborlite.errors import UpstreamUnavailable

CHUNK = 1024 * 1024
# harborlite's own small calls (manifests, tag lists, untag) give up after this long: a
# registry that accepts connections but never answers must not hold an API request forever
OWN_CALLS = aiohttp.ClientTimeout(total=30, sock_connect=10)

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

    def __init__(self, base_url: str, signer: TokenSigner, session: aiohttp.ClientSession) -> None:
        self.base_url = base_url.rstrip("/")
        self.signer = signer
        self.session = session
        self.manifest_listeners: list[ManifestWriteListener] = []

    @classmethod
    def open(cls, base_url: str, signer: TokenSigner) -> Upstream:
        connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60, ttl_dns_cache=300)
        listeners: list[ManifestWriteListener] = []
        trace = aiohttp.TraceConfig()
        trace.on_request_end.append(
            lambda session, context, params: _manifest_written(listeners, params)
        )
        session = aiohttp.ClientSession(
            connector=connector,
            auto_decompress=False,
            read_bufsize=CHUNK,
            timeout=aiohttp.ClientTimeout(total=None, sock_connect=10),
            skip_auto_headers=("User-Agent", "Accept-Encoding", "Content-Type"),
            trace_configs=[trace],
        )
        upstream = cls(base_url, signer, session)
        upstream.manifest_listeners = listeners
        return upstream

    async def close(self) -> None:
        await self.session.close()

    def own_authorization(self, repository: str, actions: tuple[str, ...]) -> str:
        """A short-lived token harborlite signs itself, with exactly the scope it needs."""
        token, _, _ = self.signer.sign(
            "harborlite", [Access("repository", repository, actions)], expiration_seconds=60
        )
        return f"Bearer {token}"

    async def fetch(
        self,
        method: str,
        repository: str,
        path: str,
        actions: tuple[str, ...],
        headers: dict[str, str] | None = None,
        limit: int = 4 * 1024 * 1024,
    ) -> tuple[int, dict[str, str], bytes]:
        """A small request of harborlite's own (manifests, configs, tag lists)."""
        request_headers = {"Authorization": self.own_authorization(repository, actions)}
        request_headers.update(headers or {})
        try:
            async with self.session.request(
                method, f"{self.base_url}{path}", headers=request_headers, timeout=OWN_CALLS
            ) as response:
                body = await response.content.read(limit + 1) if method != "HEAD" else b""
                if len(body) > limit:
                    raise UpstreamUnavailable(f"registry answer for {path} is too large")
                return response.status, dict(response.headers), body
        except (aiohttp.ClientError, TimeoutError) as error:
            raise UpstreamUnavailable(f"registry unreachable: {error!r}") from None
