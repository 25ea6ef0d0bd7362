"""harborlite's own registry calls against a real distribution registry in token mode."""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from harborlite.auth.tokens import TokenSigner, generate_key_pair
from harborlite.errors import NotFound, RegistryRefused, UpstreamUnavailable
from harborlite.oci.mediatypes import OCI_IMAGE_CONFIG, OCI_MANIFEST
from harborlite.upstream import calls
from harborlite.upstream.client import Upstream
from tests.support.processes import RegistryServer, TokenAuthConfig, free_port

ISSUER, SERVICE = "harborlite-token-issuer", "harbor-registry"
LAYER = "application/vnd.oci.image.layer.v1.tar"


@dataclass(frozen=True)
class Registry:
    server: RegistryServer
    signer: TokenSigner


@contextmanager
def started_registry(folder: Path) -> Iterator[Registry]:
    """A registry that trusts a key made here, and a signer holding that key."""
    generate_key_pair(folder / "token.key", folder / "token.crt", "harborlite-token-signer")
    server = RegistryServer(
        folder / "registry",
        token_auth=TokenAuthConfig(
            realm="http://127.0.0.1:1/service/token",
            service=SERVICE,
            issuer=ISSUER,
            rootcertbundle=folder / "token.crt",
        ),
    )
    signer = TokenSigner.load(
        folder / "token.key",
        folder / "token.crt",
        issuer=ISSUER,
        service=SERVICE,
        expiration_seconds=300,
    )
    try:
        yield Registry(server, signer)
    finally:
        server.stop()


@pytest.fixture(scope="module")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Registry]:
    with started_registry(tmp_path_factory.mktemp("registry")) as started:
        yield started


@pytest.fixture
async def upstream(registry: Registry) -> AsyncIterator[Upstream]:
    client = Upstream.open(registry.server.url, registry.signer)
    try:
        yield client
    finally:
        await client.close()


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def push_image(
    upstream: Upstream, repository: str, tag: str, *, padding: int = 0, seed: str = ""
) -> tuple[str, bytes]:
    """An image with one layer; ``padding`` bytes of annotation make its manifest that big."""
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    layer = f"layer of {repository} {seed}".encode()
    for blob in (config, layer):
        await calls.upload_blob(upstream, repository, blob, digest_of(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {
                "mediaType": OCI_IMAGE_CONFIG,
                "digest": digest_of(config),
                "size": len(config),
            },
            "layers": [{"mediaType": LAYER, "digest": digest_of(layer), "size": len(layer)}],
            "annotations": {"io.harborlite.test.padding": "x" * padding},
        }
    ).encode()
    await calls.put_manifest(upstream, repository, tag, manifest, OCI_MANIFEST)
    return digest_of(manifest), manifest


async def test_a_manifest_of_several_megabytes_is_read_whole(upstream: Upstream) -> None:
    # many network reads: one read of the buffer used to return only its first part
    digest, manifest = await push_image(upstream, "big/app", "v1", padding=3_700_000)
    assert len(manifest) > 3_700_000
    body, media_type = await calls.get_manifest(upstream, "big/app", digest)
    assert media_type == OCI_MANIFEST
    assert body == manifest
    status, _, by_tag = await upstream.fetch(
        "GET", "big/app", "/v2/big/app/manifests/v1", ("pull",), {"Accept": calls.ACCEPT}
    )
    assert status == 200 and by_tag == manifest


async def test_an_answer_over_the_limit_is_refused_not_cut(upstream: Upstream) -> None:
    digest, manifest = await push_image(upstream, "big/limit", "v1", padding=300_000)
    with pytest.raises(RegistryRefused, match="larger"):
        await upstream.fetch(
            "GET",
            "big/limit",
            f"/v2/big/limit/manifests/{digest}",
            ("pull",),
            {"Accept": calls.ACCEPT},
            limit=len(manifest) - 1,
        )
    status, _, body = await upstream.fetch(
        "GET",
        "big/limit",
        f"/v2/big/limit/manifests/{digest}",
        ("pull",),
        {"Accept": calls.ACCEPT},
        limit=len(manifest),
    )
    assert status == 200 and body == manifest
    blob = b"b" * 200_000
    await calls.upload_blob(upstream, "big/limit", blob, digest_of(blob))
    with pytest.raises(RegistryRefused):
        await calls.get_blob(upstream, "big/limit", digest_of(blob), limit=100_000)
    assert await calls.get_blob(upstream, "big/limit", digest_of(blob)) == blob


async def test_a_blob_is_mounted_across_repositories(upstream: Upstream) -> None:
    blob = b"mounted blob"
    await calls.upload_blob(upstream, "mount/source", blob, digest_of(blob))
    with pytest.raises(NotFound):
        await calls.get_blob(upstream, "mount/target", digest_of(blob))
    await calls.mount_blob(upstream, "mount/source", "mount/target", digest_of(blob))
    assert await calls.get_blob(upstream, "mount/target", digest_of(blob)) == blob
    missing = digest_of(b"never uploaded")
    with pytest.raises(NotFound, match=missing):
        await calls.mount_blob(upstream, "mount/source", "mount/target", missing)


async def test_the_catalog_is_read_page_after_page(upstream: Upstream) -> None:
    for name in ("pages/a", "pages/b", "pages/c"):
        await push_image(upstream, name, "v1", seed=name)
    names = await calls.catalog(upstream, page_size=1)
    assert {"pages/a", "pages/b", "pages/c"} <= set(names)
    assert names == sorted(names) and len(names) == len(set(names))


async def test_an_unreachable_registry_is_unavailable(registry: Registry, tmp_path: Path) -> None:
    gone = Upstream.open(f"http://127.0.0.1:{free_port()}", registry.signer)
    try:
        with pytest.raises(UpstreamUnavailable, match="unreachable"):
            await calls.get_manifest(gone, "any/repo", digest_of(b"x"))
        with pytest.raises(UpstreamUnavailable):
            await calls.put_manifest(gone, "any/repo", "v1", b"{}", OCI_MANIFEST)
        with pytest.raises(UpstreamUnavailable):
            await calls.mount_blob(gone, "any/a", "any/b", digest_of(b"x"))
        with pytest.raises(UpstreamUnavailable):
            await calls.catalog(gone)
    finally:
        await gone.close()
