"""What the remote-client tests share: endpoints, and small images pushed with the client."""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import AsyncIterator
from dataclasses import dataclass

from harborlite.endpoints.queries import Endpoint
from harborlite.remote.client import RemoteRegistry
from harborlite.remote.types import OCI_MANIFEST

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def endpoint(
    url: str,
    *,
    kind: str = "docker-registry",
    username: str | None = None,
    password: str | None = None,
    insecure: bool = False,
    ca_pem: str | None = None,
    rate: float | None = None,
    endpoint_id: int = 0,
) -> Endpoint:
    return Endpoint(
        id=endpoint_id,
        name="test",
        type=kind,
        url=url,
        insecure=insecure,
        ca_pem=ca_pem,
        username=username,
        password=password,
        rate_per_second=rate,
        description="",
        status="unknown",
    )


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


async def chunks_of(data: bytes, size: int = 64 * 1024) -> AsyncIterator[bytes]:
    for start in range(0, len(data), size):
        yield data[start : start + size]


@dataclass(frozen=True)
class Image:
    manifest: bytes
    digest: str
    config: bytes
    layer: bytes


async def push_image(client: RemoteRegistry, repository: str, tag: str, seed: str = "") -> Image:
    """A one-layer OCI image pushed with the client itself (blobs, then the manifest)."""
    layer = f"layer {repository} {tag} {seed}".encode() + os.urandom(16)
    config = json.dumps({"architecture": "amd64", "os": "linux", "seed": seed}).encode()
    for blob in (layer, config):
        await client.put_blob(repository, digest_of(blob), len(blob), chunks_of(blob))
    manifest = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_MANIFEST,
            "config": {"mediaType": OCI_CONFIG, "digest": digest_of(config), "size": len(config)},
            "layers": [{"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}],
        }
    ).encode()
    digest = await client.put_manifest(repository, tag, manifest, OCI_MANIFEST)
    return Image(manifest, digest, config, layer)
