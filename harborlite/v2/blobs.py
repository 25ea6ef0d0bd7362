"""Blob downloads straight from the registry's filesystem storage, after harborlite's checks.

The registry would serve a blob of repository R only when R links it (``_layers``); so do we.
Anything unusual (S3, a missing link, a missing file) returns False and the proxy takes over.

A whole-blob GET goes out with ``sendfile(2)``: the kernel copies page cache to the socket and
the Python process never touches the bytes. uvicorn offers no ASGI zero-copy extension, so
:class:`ZeroCopyHook` (the outermost ASGI wrapper, see ``cli.py``) hands the gateway the
connection's transport; when it is not there (another server, a test client) or the response
is a HEAD or a Range request, Starlette's FileResponse with 1 MiB chunks serves it.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import re
import select
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

from starlette.responses import FileResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from harborlite.services import Services
from harborlite.v2.challenge import send_error
from harborlite.v2.routes import Route

_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")
CHUNK = 1024 * 1024
SENDFILE_SLICE = 8 * 1024 * 1024  # bytes per sendfile(2) call
STALL_SECONDS = 120  # a client that takes nothing for this long is dropped
ZERO_COPY_KEY = "harborlite.zero_copy"


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
    if root is None:
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
    zero_copy: ZeroCopy | None = scope.get(ZERO_COPY_KEY)
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
            await _send_whole_file(zero_copy, send, fd, stat.st_size, route.reference)
        finally:
            os.close(fd)
        return 200
    response = BlobFileResponse(
        data,
        stat_result=stat,
        media_type="application/octet-stream",
        headers=_blob_headers(route.reference),
    )
    await response(scope, receive, send)
    return 200


async def _send_whole_file(
    zero_copy: ZeroCopy, send: Send, fd: int, size: int, digest: str
) -> None:
    headers = [(k.lower().encode(), v.encode()) for k, v in _blob_headers(digest).items()]
    headers += [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(size).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    offset = 0
    if zero_copy.ready():  # the status line and headers are on the wire
        offset = await zero_copy.sendfile(fd, size)
        if offset < size and zero_copy.closing():
            zero_copy.abandon()
            await send({"type": "http.response.body", "body": b""})
            return
    # Fallback for whatever is left (a busy socket buffer): ordinary reads through ASGI.
    loop = asyncio.get_running_loop()
    while offset < size:
        chunk = await loop.run_in_executor(
            zero_copy.executor, os.pread, fd, min(CHUNK, size - offset), offset
        )
        if not chunk:
            break
        offset += len(chunk)
        await send({"type": "http.response.body", "body": chunk, "more_body": True})
    await send({"type": "http.response.body", "body": b""})


def _sendfile_blocking(socket_fd: int, file_fd: int, offset: int, count: int) -> int:
    """Send ``count`` bytes of ``file_fd`` from ``offset``; returns how many went out.

    Runs in a worker thread. The socket stays non-blocking (the event loop owns it), so a
    full socket buffer is waited out with poll(2) on this thread, not the loop's.
    """
    sent = 0
    poller = select.poll()
    poller.register(socket_fd, select.POLLOUT | select.POLLERR | select.POLLHUP)
    while sent < count:
        try:
            n = os.sendfile(socket_fd, file_fd, offset + sent, min(SENDFILE_SLICE, count - sent))
        except BlockingIOError:
            events = poller.poll(STALL_SECONDS * 1000)
            if not events or any(ev & (select.POLLERR | select.POLLHUP) for _, ev in events):
                return sent
            continue
        except OSError as error:
            if error.errno == errno.EINTR:
                continue
            return sent  # EPIPE, ECONNRESET: the client went away
        if n == 0:
            return sent  # the file is shorter than it was: let the caller finish
        sent += n
    return sent


class ZeroCopy:
    """One HTTP/1.1 connection's way around uvicorn's send, for sendfile(2)."""

    def __init__(self, cycle: Any, executor: ThreadPoolExecutor) -> None:
        self._cycle = cycle
        self.executor = executor

    def ready(self) -> bool:
        transport = self._cycle.transport
        return (
            not transport.is_closing()
            and transport.get_write_buffer_size() == 0
            and transport.get_extra_info("socket") is not None
        )

    def closing(self) -> bool:
        return bool(self._cycle.transport.is_closing() or self._cycle.disconnected)

    async def sendfile(self, file_fd: int, count: int) -> int:
        socket_fd = self._cycle.transport.get_extra_info("socket").fileno()
        loop = asyncio.get_running_loop()
        sent: int = await loop.run_in_executor(
            self.executor, _sendfile_blocking, socket_fd, file_fd, 0, count
        )
        # uvicorn counts the body bytes it wrote against Content-Length: these went around it.
        self._cycle.expected_content_length -= sent
        return sent

    def abandon(self) -> None:
        """The client left mid-body: close the connection, let uvicorn finish quietly."""
        self._cycle.expected_content_length = 0
        with contextlib.suppress(Exception):
            self._cycle.transport.close()


class ZeroCopyHook:
    """Outermost ASGI wrapper: puts a :class:`ZeroCopy` in the scope when the server is
    uvicorn's HTTP/1.1 protocol (its ``send`` is a bound method of the request cycle)."""

    def __init__(self, app: ASGIApp, workers: int = 64) -> None:
        self.app = app
        self.executor = ThreadPoolExecutor(workers, thread_name_prefix="harborlite-sendfile")

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("http_version") in ("1.0", "1.1"):
            cycle = getattr(send, "__self__", None)
            if (
                cycle is not None
                and hasattr(cycle, "transport")
                and isinstance(getattr(cycle, "expected_content_length", None), int)
                and hasattr(cycle, "disconnected")
            ):
                scope[ZERO_COPY_KEY] = ZeroCopy(cycle, self.executor)
        await self.app(scope, receive, send)
