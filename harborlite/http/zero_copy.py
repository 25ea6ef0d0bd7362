"""sendfile(2) under uvicorn: the kernel copies page cache to the socket, Python never
touches the bytes.

uvicorn offers no ASGI zero-copy extension, so :class:`ZeroCopyHook`, the outermost ASGI
wrapper (``app.create_app`` puts it there), hands the app the connection's transport as a
:class:`ZeroCopy` in the scope. When it is not there (another server, a test client),
:func:`zero_copy_of` says None and the caller streams through ASGI as usual.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import os
import select
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from starlette.types import ASGIApp, Receive, Scope, Send

CHUNK = 1024 * 1024  # the fallback's reads, when sendfile could not send everything
SENDFILE_SLICE = 8 * 1024 * 1024  # bytes per sendfile(2) call
STALL_SECONDS = 120  # a client that takes nothing for this long is dropped
ZERO_COPY_KEY = "harborlite.zero_copy"
BLOB_PATH = "/blobs/"  # the paths (``/v2/<name>/blobs/<digest>``) that may send a file


def zero_copy_of(scope: Scope) -> ZeroCopy | None:
    """The connection's way around uvicorn's send, when the server offers one."""
    found: ZeroCopy | None = scope.get(ZERO_COPY_KEY)
    return found


# what sends a file's first ``count`` bytes on a non-blocking socket, in a worker thread:
# (socket fd, file fd, count) -> bytes sent
FileSender = Callable[[int, int, int], int]


async def send_whole_file(
    zero_copy: ZeroCopy,
    send: Send,
    fd: int,
    size: int,
    headers: list[tuple[bytes, bytes]],
    sender: FileSender | None = None,
) -> None:
    """A 200 with ``headers`` and the ``size`` bytes of ``fd``, through ``sender`` (sendfile(2)
    by default) where the socket takes them and ordinary ASGI body messages for the rest."""
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    offset = 0
    if zero_copy.ready():  # the status line and headers are on the wire
        offset = await zero_copy.send_by(sender or _sendfile_whole, fd, size)
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


def _sendfile_whole(socket_fd: int, file_fd: int, count: int) -> int:
    return _sendfile_blocking(socket_fd, file_fd, 0, count)


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
        return await self.send_by(_sendfile_whole, file_fd, count)

    async def send_by(self, sender: FileSender, file_fd: int, count: int) -> int:
        """The first ``count`` bytes of ``file_fd`` sent around uvicorn by ``sender`` on a
        worker thread; how many went out."""
        socket_fd = self._cycle.transport.get_extra_info("socket").fileno()
        loop = asyncio.get_running_loop()
        sent: int = await loop.run_in_executor(self.executor, sender, socket_fd, file_fd, count)
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
        if (
            scope["type"] == "http"
            and BLOB_PATH in scope["path"]  # only blob downloads send files: no other path pays
            and scope.get("http_version") in ("1.0", "1.1")
        ):
            cycle = getattr(send, "__self__", None)
            if (
                cycle is not None
                and hasattr(cycle, "transport")
                and isinstance(getattr(cycle, "expected_content_length", None), int)
                and hasattr(cycle, "disconnected")
                # sendfile(2) would write plain bytes into a TLS stream: HTTPS streams
                and cycle.transport.get_extra_info("sslcontext") is None
            ):
                scope[ZERO_COPY_KEY] = ZeroCopy(cycle, self.executor)
        await self.app(scope, receive, send)
