"""What the proxy-cache tests share: endpoints, upstream images, a /v2/ puller."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime

import httpx

from harborlite.remote.client import RemoteRegistry
from harborlite.remote.types import OCI_INDEX, OCI_MANIFEST
from tests.harness import Harborlite
from tests.remote.common import chunks_of, endpoint

OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
OCI_LAYER = "application/vnd.oci.image.layer.v1.tar"


def digest_of(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def add_endpoint(server: Harborlite, name: str, kind: str, url: str) -> int:
    """A registry endpoint: through ``/api/v2.0/registries`` when it is served, else written
    into the server's SQLite database as that API would."""
    body = {"name": name, "type": kind, "url": url, "insecure": True}
    response = server.api("POST", "/registries", auth=server.admin, json=body)
    if response.status_code == 201:
        return int(response.headers["Location"].rsplit("/", 1)[1])
    assert response.status_code in (404, 405), response.text
    now = datetime.now(UTC).isoformat()
    with sqlite3.connect(server.data_dir / "harborlite.db") as db:
        cursor = db.execute(
            "INSERT INTO registries (name, type, url, insecure, credential_type, description, "
            "status, status_message, creation_time, update_time) "
            "VALUES (?, ?, ?, 1, 'basic', '', 'healthy', '', ?, ?)",
            (name, kind, url, now, now),
        )
        return int(cursor.lastrowid or 0)


def create_proxy_project(
    server: Harborlite,
    name: str,
    registry_id: int,
    metadata: dict[str, str] | None = None,
    auth: tuple[str, str] | None = None,
) -> httpx.Response:
    body = {
        "project_name": name,
        "registry_id": registry_id,
        "metadata": {"public": "false", **(metadata or {})},
    }
    return server.api("POST", "/projects", auth=auth or server.admin, json=body)


@dataclass(frozen=True)
class Image:
    manifest: bytes
    digest: str
    config: bytes
    layers: tuple[bytes, ...]
    media_type: str = OCI_MANIFEST


async def _push(registry_url: str, repository: str, tag: str, layers: tuple[bytes, ...]) -> Image:
    config = json.dumps({"architecture": "amd64", "os": "linux", "n": os.urandom(4).hex()}).encode()
    async with RemoteRegistry(endpoint(registry_url)) as client:
        for blob in (*layers, config):
            await client.put_blob(repository, digest_of(blob), len(blob), chunks_of(blob))
        manifest = json.dumps(
            {
                "schemaVersion": 2,
                "mediaType": OCI_MANIFEST,
                "config": {
                    "mediaType": OCI_CONFIG,
                    "digest": digest_of(config),
                    "size": len(config),
                },
                "layers": [
                    {"mediaType": OCI_LAYER, "digest": digest_of(layer), "size": len(layer)}
                    for layer in layers
                ],
            }
        ).encode()
        digest = await client.put_manifest(repository, tag, manifest, OCI_MANIFEST)
    return Image(manifest, digest, config, layers)


def push_upstream(registry_url: str, repository: str, tag: str, *sizes: int) -> Image:
    """An OCI image with random layers of ``sizes`` bytes, pushed to a bare registry."""
    layers = tuple(os.urandom(size) for size in sizes or (4096,))
    return asyncio.run(_push(registry_url, repository, tag, layers))


async def _push_index(registry_url: str, repository: str, tag: str) -> tuple[bytes, str]:
    children = [
        await _push(registry_url, repository, f"{tag}-{n}", (os.urandom(2048),)) for n in (1, 2)
    ]
    index = json.dumps(
        {
            "schemaVersion": 2,
            "mediaType": OCI_INDEX,
            "manifests": [
                {
                    "mediaType": OCI_MANIFEST,
                    "digest": child.digest,
                    "size": len(child.manifest),
                    "platform": {"architecture": arch, "os": "linux"},
                }
                for child, arch in zip(children, ("amd64", "arm64"), strict=True)
            ],
        }
    ).encode()
    async with RemoteRegistry(endpoint(registry_url)) as client:
        digest = await client.put_manifest(repository, tag, index, OCI_INDEX)
    return index, digest


def push_upstream_index(registry_url: str, repository: str, tag: str) -> tuple[bytes, str]:
    return asyncio.run(_push_index(registry_url, repository, tag))


ACCEPT = ", ".join(
    [
        OCI_MANIFEST,
        OCI_INDEX,
        "application/vnd.docker.distribution.manifest.v2+json",
        "application/vnd.docker.distribution.manifest.list.v2+json",
    ]
)


class Puller:
    """Pulls through harborlite's /v2/ as a client does, with a token asked for the scope."""

    def __init__(self, server: Harborlite, auth: tuple[str, str] | None = None) -> None:
        self.server = server
        self.auth = auth or server.admin
        self.client = httpx.Client(base_url=server.url, timeout=60)

    def close(self) -> None:
        self.client.close()

    def headers(self, repository: str, actions: str = "pull") -> dict[str, str]:
        token = self.server.token(f"repository:{repository}:{actions}", self.auth)
        return {"Authorization": f"Bearer {token}", "Accept": ACCEPT}

    def manifest(self, repository: str, reference: str, method: str = "GET") -> httpx.Response:
        return self.client.request(
            method, f"/v2/{repository}/manifests/{reference}", headers=self.headers(repository)
        )

    def blob(self, repository: str, digest: str) -> httpx.Response:
        return self.client.get(f"/v2/{repository}/blobs/{digest}", headers=self.headers(repository))
