"""Replicas' manifest caches linked through a real Redis, and the manifest they learn."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable

from harborlite.cache.invalidation import ManifestCacheSync
from harborlite.cache.manifests import ManifestCache
from harborlite.oci.mediatypes import OCI_INDEX, OCI_MANIFEST

BODY = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
ACCEPT = frozenset(
    {OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"}
)
HEADERS = [
    (b"Content-Type", OCI_MANIFEST.encode()),
    (b"Content-Length", str(len(BODY)).encode()),
    (b"Docker-Content-Digest", DIGEST.encode()),
]


def filled() -> ManifestCache:
    cache = ManifestCache()
    cache.learn("p/r", "latest", 0, ACCEPT, HEADERS, BODY)
    assert cache.lookup("p/r", "latest", ACCEPT) is not None
    return cache


@contextlib.asynccontextmanager
async def replicas(
    url: str, count: int
) -> AsyncIterator[list[tuple[ManifestCache, ManifestCacheSync]]]:
    """``count`` replicas' caches, each with its own connection to the Redis at ``url``."""
    started = []
    try:
        for _ in range(count):
            cache = ManifestCache()
            sync = ManifestCacheSync(url, cache)
            await sync.start()
            started.append((cache, sync))
        yield started
    finally:
        for _, sync in started:
            await sync.stop()


async def eventually(check: Callable[[], bool], seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if check():
            return True
        await asyncio.sleep(0.02)
    return False
