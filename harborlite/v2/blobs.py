"""Blob downloads straight from the registry's filesystem storage, after harborlite's checks.

The registry would serve a blob of repository R only when R links it (``_layers``); so do we.
Anything unusual (a missing link, a missing file) returns None and the proxy takes over.

With S3 (``HARBORLITE_STORAGE=s3``) this path is off: the registry answers a blob GET with a
307 to a presigned URL of the bucket (its ``storage.redirect`` is on), which the proxy passes
through untouched, so the bytes go from S3 to the client and never through harborlite.

A whole-blob GET goes out on the connection's own socket (:mod:`harborlite.http.zero_copy`):
by copies while few transfers run, by ``sendfile(2)`` when many do (:mod:`harborlite.http.blob_body`
says why). When the server offers no zero copy (another server, a test client) or the request
is a HEAD or a Range request, Starlette's FileResponse with 1 MiB chunks serves it.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

from starlette.responses import FileResponse
from starlette.types import Receive, Scope, Send

from harborlite.http import blob_body
from harborlite.http.zero_copy import send_whole_file, zero_copy_of
from harborlite.services import Services
from harborlite.v2.challenge import send_error
from harborlite.v2.routes import Route

_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")
CHUNK = 1024 * 1024


class BlobFileResponse(FileResponse):
    chunk_size = CHUNK


REPOSITORIES = Path("docker/registry/v2/repositories")


def blob_paths(storage_root: Path, repository: str, digest: str) -> tuple[Path, Path] | None:
    match = _DIGEST.match(digest)
    if match is None or ".." in repository:
        return None
    algorithm, hexdigest = match.groups()
    base = storage_root / "docker" / "registry" / "v2"
    link = base / "repositories" / repository / "_layers" / algorithm / hexdigest / "link"
    data = base / "blobs" / algorithm / hexdigest[:2] / hexdigest / "data"
    return link, data


def _blob_headers(digest: str) -> dict[str, str]:
    """What the registry sends with a blob (besides length, type and date)."""
    return {
        "Docker-Content-Digest": digest,
        "Docker-Distribution-Api-Version": "registry/2.0",
        "Cache-Control": "max-age=31536000",
        "Etag": f'"{digest}"',
        "Accept-Ranges": "bytes",
        "X-Content-Type-Options": "nosniff",
    }


async def serve_blob_from_storage(
    services: Services, scope: Scope, receive: Receive, send: Send, route: Route
) -> int | None:
    """Answer a blob GET/HEAD from the registry's storage; the status sent, or None when the
    proxy should answer instead (storage unknown or unreachable, anything unusual)."""
    root = services.storage_root
    if root is None or services.settings.storage != "filesystem":
        return None
    paths = blob_paths(root, route.name, route.reference)
    if paths is None:
        return None
    link, data = paths
    try:
        if link.read_bytes().strip() != route.reference.encode():
            return None
        stat = os.stat(data)
    except FileNotFoundError:
        if scope["method"] == "HEAD" and not link.exists() and (root / REPOSITORIES).is_dir():
            # Not linked into this repository: the registry answers exactly this. Clients HEAD
            # every blob before pushing it, so this saves a round trip per layer; a GET still
            # asks the registry (a wrong 404 there would break a pull, here it costs an upload).
            await send_error(
                send,
                404,
                "BLOB_UNKNOWN",
                "blob unknown to registry",
                detail=route.reference,
                head=True,
            )
            return 404
        return None
    except OSError:
        return None
    zero_copy = zero_copy_of(scope)
    if (
        zero_copy is not None
        and scope["method"] == "GET"
        and not any(key == b"range" for key, _ in scope["headers"])
        and zero_copy.ready()
    ):
        try:
            fd = os.open(data, os.O_RDONLY)
        except OSError:
            return None
        try:
            headers = [
                (k.lower().encode(), v.encode()) for k, v in _blob_headers(route.reference).items()
            ]
            headers += [
                (b"content-type", b"application/octet-stream"),
                (b"content-length", str(stat.st_size).encode()),
            ]
            await send_whole_file(
                zero_copy,
                send,
                fd,
                stat.st_size,
                headers,
                blob_body.sender(services.metrics.blob_sent),
            )
        finally:
            os.close(fd)
        services.metrics.served_from_storage(stat.st_size)
        return 200
    response = BlobFileResponse(
        data,
        stat_result=stat,
        media_type="application/octet-stream",
        headers=_blob_headers(route.reference),
    )
    await response(scope, receive, send)
    if scope["method"] == "GET":
        services.metrics.served_from_storage(stat.st_size)
    return 200
