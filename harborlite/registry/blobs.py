"""Blob downloads straight from the registry's filesystem storage, after harborlite's checks.

The registry would serve a blob of repository R only when R links it (``_layers``); so do we.
Anything unusual (S3, a missing link, a missing file) returns False and the proxy takes over.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from harborlite.registry.routes import Route
from harborlite.services import Services

_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")


class BlobFileResponse(FileResponse):
    chunk_size = 1024 * 1024


def blob_paths(storage_root: Path, repository: str, digest: str) -> tuple[Path, Path] | None:
    match = _DIGEST.match(digest)
    if match is None or ".." in repository:
        return None
    algorithm, hexdigest = match.groups()
    base = storage_root / "docker" / "registry" / "v2"
    link = base / "repositories" / repository / "_layers" / algorithm / hexdigest / "link"
    data = base / "blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
    return link, data


async def serve_blob_from_storage(
    services: Services, scope: Scope, receive: Receive, send: Send, route: Route
) -> bool:
    supervisor = services.supervisor
    if supervisor is None:
        return False
    paths = blob_paths(supervisor.storage_root, route.name, route.reference)
    if paths is None:
        return False
    link, data = paths
    try:
        if link.read_bytes().strip() != route.reference.encode():
            return False
        stat = os.stat(data)
    except OSError:
        return False
    response = BlobFileResponse(
        data,
        stat_result=stat,
        media_type="application/octet-stream",
        headers={
            "Docker-Content-Digest": route.reference,
            "Docker-Distribution-Api-Version": "registry/2.0",
            "Cache-Control": "max-age=31536000",
            "Etag": f'"{route.reference}"',
        },
    )
    await response(scope, receive, send)
    return True
