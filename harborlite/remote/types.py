"""What the remote-registry client hands back: manifests and blob streams."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_INDEX, OCI_MANIFEST, DOCKER_LIST, DOCKER_MANIFEST)
ACCEPT_MANIFESTS = ", ".join(MANIFEST_TYPES)
MAX_MANIFEST_BYTES = 4 * 1024 * 1024  # distribution's own limit


@dataclass(frozen=True)
class RemoteManifest:
    body: bytes
    media_type: str
    digest: str


@dataclass
class BlobStream:
    """A blob being read: its size and its bytes in chunks (never all in memory)."""

    size: int
    chunks: AsyncIterator[bytes]
