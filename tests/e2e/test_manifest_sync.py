"""Manifest cache invalidation across replicas through a real Redis."""

from __future__ import annotations

import asyncio
import hashlib
from pathlib import Path

from harborlite.registry.manifest_cache import OCI_INDEX, OCI_MANIFEST, ManifestCache
from harborlite.registry.manifest_sync import ManifestCacheSync
from tests.support.processes import RedisServer

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


async def eventually(check: object, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if callable(check) and check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_delete_on_one_replica_empties_the_others(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        first, second = ManifestCache(), ManifestCache()
        one = ManifestCacheSync(server.url, first)
        two = ManifestCacheSync(server.url, second)
        await one.start()
        await two.start()
        try:
            for cache in (first, second):
                cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
                assert cache.lookup("p/r", "latest", ACCEPT) is not None
            first.registry_wrote("DELETE", "p/r", DIGEST, 202, None)
            await one.published("DELETE", "p/r", DIGEST, 202, None)
            assert await eventually(lambda: second.lookup("p/r", DIGEST, ACCEPT) is None)
            assert second.lookup("p/r", "latest", ACCEPT) is None
            # a tag moved elsewhere is seen too
            second.learn("p/r", "latest", second.generation("p/r"), ACCEPT, HEADERS, BODY)
            await one.published("PUT", "p/r", "latest", 201, "sha256:" + "2" * 64)
            assert await eventually(lambda: second.lookup("p/r", "latest", ACCEPT) is None)
        finally:
            await one.stop()
            await two.stop()


async def test_without_redis_the_cache_stays_off(tmp_path: Path) -> None:
    cache = filled()
    sync = ManifestCacheSync("redis://127.0.0.1:1/0", cache, retry_seconds=0.1)
    await sync.start(wait=0.3)
    try:
        assert not cache.enabled
        cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert cache.lookup("p/r", "latest", ACCEPT) is None
    finally:
        await sync.stop()


def test_harborlite_with_redis_serves_from_its_cache(tmp_path: Path) -> None:
    import httpx

    from tests.harness import cleanup, start_harborlite
    from tests.support.clients import skopeo_copy
    from tests.support.images import build_oci_layout

    with RedisServer(tmp_path / "redis") as redis_server:
        server = start_harborlite(extra_env={"HARBORLITE_REDIS_URL": redis_server.url})
        try:
            server.create_project("synced")
            image = build_oci_layout(tmp_path / "layout", "v1", [1024], seed=7)
            skopeo_copy(
                f"oci:{tmp_path / 'layout'}:v1",
                f"docker://{server.host}/synced/app:v1",
                creds=server.admin,
            )
            token = server.token("repository:synced/app:pull", server.admin)
            headers = {"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST}
            for _ in range(3):
                answer = httpx.get(
                    f"{server.url}/v2/synced/app/manifests/v1", headers=headers, timeout=30
                )
                assert answer.status_code == 200
                assert answer.headers["docker-content-digest"] == image.manifest_digest
            assert "via=cache" in server.log()
        finally:
            cleanup(server)
