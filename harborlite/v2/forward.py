"""Streaming a ``/v2/`` request to the registry and its answer back, chunk by chunk.

The client's headers go through except the hop-by-hop ones, with the ``Host`` the client used
and the scheme harborlite is reached by; a ``Location`` the registry points at itself is
rewritten to harborlite's external URL. Bodies are never buffered, except a manifest PUT
(read whole, up to :data:`~harborlite.oci.mediatypes.MAX_MANIFEST_BYTES`, so it can be indexed)
and a manifest answer the cache may keep.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import AsyncIterator, Callable

import aiohttp
from starlette.types import Message, Receive, Scope, Send
from yarl import URL

from harborlite.http.origin import header
from harborlite.services import Services
from harborlite.upstream.client import CHUNK
from harborlite.v2.budget import proxied
from harborlite.v2.registry_errors import REGISTRY_ERROR_LIMIT, told_error

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


# the directions of harborlite_proxied_bytes
TO_CLIENT, TO_REGISTRY = "to_client", "to_registry"


class ClientGone(Exception):
    """The client disconnected before its request body was all in."""


class BodyTooLarge(Exception):
    """A request body that must be read whole is larger than its limit."""


class RegistryUnreachable(Exception):
    """The registry did not take the request (refused, reset, unresolvable)."""


def has_body(scope: Scope) -> bool:
    length = header(scope, b"content-length")
    if length is not None:
        return length.strip() != "0"
    return header(scope, b"transfer-encoding") is not None


async def stream_request(
    receive: Receive, counted: Callable[[int], None] | None = None
) -> AsyncIterator[bytes]:
    """The client's body, chunk by chunk; ``counted`` is told how many bytes went through."""
    size = 0
    try:
        while True:
            message: Message = await receive()
            if message["type"] == "http.disconnect":
                raise ClientGone()
            chunk = message.get("body", b"")
            if chunk:
                size += len(chunk)
                yield chunk
            if not message.get("more_body", False):
                return
    finally:
        if counted is not None:
            counted(size)


async def read_limited(receive: Receive, limit: int) -> bytes:
    """The whole request body; :class:`BodyTooLarge` past ``limit`` bytes (the rest is read
    and dropped, so the connection stays usable for the error answer)."""
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
    if size > limit:
        raise BodyTooLarge(f"{size} bytes, more than {limit}")
    return b"".join(parts)


def _request_headers(services: Services, scope: Scope, drop_length: bool) -> list[tuple[str, str]]:
    headers: list[tuple[str, str]] = []
    for key, value in scope["headers"]:
        if key in HOP_BY_HOP or (drop_length and key == b"content-length"):
            continue
        headers.append((key.decode("latin-1"), value.decode("latin-1")))
    headers.append(("Host", header(scope, b"host") or services.settings.external_host))
    headers.append(("X-Forwarded-Proto", services.settings.external_url.split(":", 1)[0]))
    return headers


@contextlib.asynccontextmanager
async def registry_answer(
    services: Services, scope: Scope, receive: Receive, body: bytes | None = None
) -> AsyncIterator[aiohttp.ClientResponse]:
    """Send the request to the registry (``body`` when it was read already, else the client's
    body streamed through) and give its answer, released after the block.

    The request goes through the proxy's own connection pool (harborlite's own calls have
    another) and counts against its client's budget (:mod:`harborlite.v2.budget`) while it
    is with the registry. Raises :class:`~harborlite.v2.budget.OverBudget` (nothing was sent),
    :class:`RegistryUnreachable` or :class:`ClientGone` before the block runs."""
    method: str = scope["method"]
    metrics = services.metrics
    data: bytes | AsyncIterator[bytes] | None = body
    if body is None and method in ("PUT", "PATCH", "POST") and has_body(scope):
        data = stream_request(receive, lambda size: metrics.proxied(TO_REGISTRY, size))
    elif body is not None:
        metrics.proxied(TO_REGISTRY, len(body))
    raw_path = scope.get("raw_path") or scope["path"].encode()
    url = services.upstream.base_url + raw_path.decode("latin-1")
    query = scope.get("query_string", b"")
    if query:
        url += "?" + query.decode("latin-1")
    with proxied(scope, body):
        response_cm = services.upstream.proxy_session.request(
            method,
            URL(url, encoded=True),
            headers=_request_headers(services, scope, drop_length=body is not None),
            data=data,
            allow_redirects=False,
            auto_decompress=False,
        )
        started = time.perf_counter()
        try:
            response = await response_cm.__aenter__()
        except (aiohttp.ClientError, OSError) as error:
            if isinstance(error.__cause__, ClientGone):  # the client left (or was cut off)
                raise ClientGone() from error
            metrics.upstream_failed()
            log.error("registry unreachable for %s %s: %s", method, scope["path"], error)
            raise RegistryUnreachable(str(error)) from error
        metrics.upstream_answered(method, time.perf_counter() - started)
        try:
            yield response
        finally:
            response.release()
            await response_cm.__aexit__(None, None, None)


def response_headers(
    services: Services, response: aiohttp.ClientResponse
) -> list[tuple[bytes, bytes]]:
    """The registry's headers for the client: hop-by-hop ones dropped, ``Location`` rewritten."""
    result: list[tuple[bytes, bytes]] = []
    upstream_base = services.upstream.base_url.encode()
    external = services.settings.external_url.encode()
    for key, value in response.raw_headers:
        lower = key.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == b"location" and (
            value == upstream_base or value.startswith(upstream_base + b"/")
        ):
            value = external + value[len(upstream_base) :]
        result.append((lower, value))
    return result


async def send_answer(
    services: Services,
    send: Send,
    response: aiohttp.ClientResponse,
    *,
    head: bool,
    keep: int = 0,
    extra_headers: list[tuple[bytes, bytes]] | None = None,
) -> bytes | None:
    """Stream the registry's answer to the client (with ``extra_headers`` of harborlite's, such
    as ``OCI-Subject``). With ``keep``, also return its body when it is at most ``keep`` bytes
    (None when larger, or for a HEAD). A small 5xx is read whole and told in harborlite's words
    (:func:`~harborlite.v2.registry_errors.told_error`)."""
    length = response.content_length
    if response.status >= 500 and not head and length is not None:
        if length <= REGISTRY_ERROR_LIMIT:
            status, told = told_error(response.status, await response.content.read())
            headers = [
                (key, str(len(told)).encode() if key == b"content-length" else value)
                for key, value in response_headers(services, response)
            ]
            await send({"type": "http.response.start", "status": status, "headers": headers})
            await send({"type": "http.response.body", "body": told})
            services.metrics.proxied(TO_CLIENT, len(told))
            return None
    await send(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": response_headers(services, response) + (extra_headers or []),
        }
    )
    if head:
        await send({"type": "http.response.body", "body": b""})
        return None
    kept: list[bytes] | None = [] if keep else None
    kept_size = sent = 0
    try:
        async for chunk in response.content.iter_chunked(CHUNK):
            if kept is not None:
                kept_size += len(chunk)
                kept = kept if kept_size <= keep else None
                if kept is not None:
                    kept.append(chunk)
            await send({"type": "http.response.body", "body": chunk, "more_body": True})
            sent += len(chunk)
        await send({"type": "http.response.body", "body": b""})
    finally:
        services.metrics.proxied(TO_CLIENT, sent)  # once per answer, not per chunk
    return b"".join(kept) if kept is not None else None
