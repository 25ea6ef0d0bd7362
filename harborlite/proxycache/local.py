"""The local registry's side of a proxy fill: what it has, and storing into it.

Every call carries a token harborlite signs itself for exactly the repository it touches
(:meth:`harborlite.upstream.client.Upstream.own_authorization`).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator
from urllib.parse import urlsplit

import aiohttp

from harborlite.errors import RegistryRefused
from harborlite.storage.store import RegistryStorage, Upload
from harborlite.upstream.calls import ACCEPT
from harborlite.upstream.client import OWN_CALLS, Upstream, reaching

log = logging.getLogger("harborlite.proxycache")

# an upload is as long as its upstream stream: no total limit, but no silence past 2 minutes
UPLOAD_TIMEOUT = aiohttp.ClientTimeout(total=None, sock_connect=10, sock_read=120)
CANCEL_SETTLE = 0.3  # seconds the registry takes to write back a cancelled upload's state
PATCH_BYTES = 4 * 1024 * 1024  # what a fill holds in memory at most before sending it on


async def manifest_digest(upstream: Upstream, repository: str, reference: str) -> str | None:
    """The digest the local registry has for ``reference``, or None."""
    status, headers, _ = await upstream.fetch(
        "HEAD", repository, f"/v2/{repository}/manifests/{reference}", ("pull",), {"Accept": ACCEPT}
    )
    return headers.get("Docker-Content-Digest") if status == 200 else None


async def has_blob(upstream: Upstream, repository: str, digest: str) -> bool:
    status, _, _ = await upstream.fetch(
        "HEAD", repository, f"/v2/{repository}/blobs/{digest}", ("pull",)
    )
    return status == 200


async def store_blob(
    upstream: Upstream,
    storage: RegistryStorage | None,
    repository: str,
    digest: str,
    chunks: AsyncIterator[bytes],
) -> None:
    """One upload fed as the bytes come: ``POST``, a ``PATCH`` per :data:`PATCH_BYTES` gathered,
    then ``PUT ?digest=`` with the rest (the registry checks the digest as it commits). Each
    request carries only bytes already in hand, so a broken source never leaves a request
    half sent: the upload is then cancelled (``DELETE`` with the registry's latest state) and,
    as distribution 2.8 writes the upload's hash state back after cancelling it, its folder
    removed from ``storage``: ``_uploads`` keeps nothing."""
    headers = {"Authorization": upstream.own_authorization(repository, ("pull", "push"))}
    with reaching():
        uploads = f"{upstream.base_url}/v2/{repository}/blobs/uploads/"
        async with upstream.session.post(uploads, headers=headers, timeout=OWN_CALLS) as response:
            location = response.headers.get("Location", "")
            if response.status != 202 or not location:
                raise RegistryRefused(f"the registry refused an upload to {repository}")
    url = _ours(upstream, location)
    sending = {**headers, "Content-Type": "application/octet-stream"}
    gathered = bytearray()
    try:
        async for chunk in chunks:
            gathered += chunk
            if len(gathered) >= PATCH_BYTES:
                url = await _patch(upstream, url, bytes(gathered), sending, repository)
                gathered.clear()
        separator = "&" if "?" in url else "?"
        with reaching():
            async with upstream.session.put(
                f"{url}{separator}digest={digest}",
                data=bytes(gathered),
                headers=sending,
                timeout=UPLOAD_TIMEOUT,
            ) as response:
                if response.status != 201:
                    text = await response.content.read(512)
                    raise RegistryRefused(
                        f"the registry refused blob {digest} of {repository} "
                        f"({response.status}: {text[:200]!r})"
                    )
    except BaseException:
        cancel = {"Authorization": upstream.own_authorization(repository, ("delete",))}
        await _cancel(upstream, url, cancel)
        if storage is not None:
            await asyncio.sleep(CANCEL_SETTLE)
            upload = Upload(repository, urlsplit(url).path.rstrip("/").rsplit("/", 1)[-1], 0.0)
            await asyncio.to_thread(storage.remove_upload, upload)
        raise


def _ours(upstream: Upstream, location: str) -> str:
    """An upload's ``Location`` on the address harborlite reaches the registry at."""
    parts = urlsplit(location)
    return f"{upstream.base_url}{parts.path}" + (f"?{parts.query}" if parts.query else "")


async def _patch(
    upstream: Upstream, url: str, data: bytes, headers: dict[str, str], repository: str
) -> str:
    with reaching():
        async with upstream.session.patch(
            url, data=data, headers=headers, timeout=UPLOAD_TIMEOUT
        ) as response:
            location = response.headers.get("Location", "")
            if response.status != 202 or not location:
                raise RegistryRefused(
                    f"the registry refused part of an upload to {repository} ({response.status})"
                )
    return _ours(upstream, location)


async def _cancel(upstream: Upstream, url: str, headers: dict[str, str]) -> None:
    try:
        with reaching():
            async with upstream.session.delete(url, headers=headers, timeout=OWN_CALLS) as gone:
                await gone.read()
                if gone.status not in (204, 404):
                    log.warning("the registry kept a broken proxy upload (%s)", gone.status)
    except Exception as error:  # the registry's upload purge removes it later
        log.warning("could not cancel a broken proxy upload: %r", error)
