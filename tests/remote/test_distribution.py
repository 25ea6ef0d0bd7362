"""The remote client against a real, anonymous ``docker-registry`` (distribution 2.8)."""

from __future__ import annotations

import hashlib
import os
import tracemalloc
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest

from harborlite.remote.client import RemoteRegistry
from harborlite.remote.errors import RemoteError
from harborlite.remote.types import OCI_MANIFEST
from tests.remote.common import chunks_of, digest_of, endpoint, push_image
from tests.support.processes import RegistryServer, free_port


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RegistryServer]:
    with RegistryServer(tmp_path_factory.mktemp("registry")) as server:
        yield server


async def test_ping_and_a_round_trip(registry: RegistryServer) -> None:
    async with RemoteRegistry(endpoint(registry.url)) as client:
        await client.ping()
        image = await push_image(client, "lib/alpine", "3.19")
        assert image.digest == digest_of(image.manifest)
        found = await client.manifest("lib/alpine", "3.19")
        assert found is not None
        assert (found.body, found.media_type, found.digest) == (
            image.manifest,
            OCI_MANIFEST,
            image.digest,
        )
        assert await client.manifest_digest("lib/alpine", "3.19") == image.digest
        assert await client.manifest("lib/alpine", "nope") is None
        assert await client.manifest_digest("lib/alpine", "nope") is None
        assert await client.has_blob("lib/alpine", digest_of(image.layer))
        assert not await client.has_blob("lib/alpine", digest_of(b"missing"))
        async with client.open_blob("lib/alpine", digest_of(image.layer)) as blob:
            assert blob.size == len(image.layer)
            assert b"".join([chunk async for chunk in blob.chunks]) == image.layer
        assert "3.19" in await client.tags("lib/alpine")
        assert "lib/alpine" in await client.catalog()
        assert await client.tags("never/pushed") == []


async def test_tags_are_paged(registry: RegistryServer) -> None:
    """More tags than one page (the client asks 1000 a page; registry:2 follows ``Link``)."""
    async with RemoteRegistry(endpoint(registry.url)) as client:
        image = await push_image(client, "paged/repo", "t0")
        for number in range(1, 5):
            await client.put_manifest("paged/repo", f"t{number}", image.manifest, OCI_MANIFEST)
        import harborlite.remote.client as module

        saved = module.PAGE
        module.PAGE = 2  # two a page: three pages
        try:
            assert sorted(await client.tags("paged/repo")) == [f"t{n}" for n in range(5)]
        finally:
            module.PAGE = saved


async def test_mount_and_delete(registry: RegistryServer) -> None:
    async with RemoteRegistry(endpoint(registry.url)) as client:
        image = await push_image(client, "src/one", "v1")
        layer = digest_of(image.layer)
        assert await client.mount_blob("dst/two", layer, "src/one")
        assert await client.has_blob("dst/two", layer)
        # a blob the source lacks: the registry starts an upload instead (cancelled), False
        assert not await client.mount_blob("dst/two", digest_of(b"not there"), "src/one")
        assert await client.delete_manifest("src/one", image.digest)
        assert await client.manifest("src/one", image.digest) is None
        assert not await client.delete_manifest("src/one", image.digest)  # 404: False


async def test_referrers_api_absent_gives_none(registry: RegistryServer) -> None:
    async with RemoteRegistry(endpoint(registry.url)) as client:
        image = await push_image(client, "ref/repo", "v1")
        assert await client.referrers("ref/repo", image.digest) is None


async def test_a_large_blob_streams_both_ways(registry: RegistryServer) -> None:
    """32 MiB up and down in chunks: the client never holds it whole (peak Python memory
    stays far below the blob's size)."""
    size = 32 * 1024 * 1024
    block = os.urandom(1024 * 1024)
    expected = hashlib.sha256(block * 32).hexdigest()

    async def produce() -> AsyncIterator[bytes]:
        for _ in range(32):
            yield block

    async with RemoteRegistry(endpoint(registry.url)) as client:
        tracemalloc.start()
        try:
            await client.put_blob("big/blob", f"sha256:{expected}", size, produce())
            digest = hashlib.sha256()
            async with client.open_blob("big/blob", f"sha256:{expected}") as blob:
                assert blob.size == size
                async for chunk in blob.chunks:
                    digest.update(chunk)
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
    assert digest.hexdigest() == expected
    assert peak < size / 4, f"peak {peak} bytes for a {size}-byte blob"


async def test_wrong_digest_upload_is_refused(registry: RegistryServer) -> None:
    async with RemoteRegistry(endpoint(registry.url)) as client:
        with pytest.raises(RemoteError) as caught:
            await client.put_blob("bad/blob", digest_of(b"other"), 4, chunks_of(b"data"))
        assert caught.value.status == 400


async def test_unreachable_is_a_remote_error(tmp_path: Path) -> None:
    async with RemoteRegistry(endpoint(f"http://127.0.0.1:{free_port()}")) as client:
        with pytest.raises(RemoteError) as caught:
            await client.ping()
    assert caught.value.status is None
