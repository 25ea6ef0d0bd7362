"""A whole file's bytes to one client: copies through a buffer while few transfers run,
sendfile(2) when many do.

sendfile hands the socket references to page-cache pages: the server copies nothing, and the
*reader's* recv copies the bytes out of pages nobody touched lately. Copies (``pread`` into a
1 MiB buffer, ``write`` from it) cost this process one more pass over the bytes, but the
reader then copies from memory that is hot in the cache. Measured on this 2-core machine kind
(one 1 GiB file from the page cache to one loopback reader, 15 interleaved transfers each):

- skopeo spent 5.2 to 5.7 CPU seconds on a 1 GiB pull sent by sendfile, 4.5 to 4.7 s on
  copies (it hashes and writes every byte: CPU-bound on its side);
- a C reader that discards the bytes spent 0.26 s of system time on sendfile's bytes and 0.15
  s on copies, curl 0.51 s and 0.28 s; the server 0.21 s and 0.32 s. Neither side is busy the
  whole transfer, and a reader that has less to do takes the next bytes sooner: the median
  rate was 1,554 MB/s by sendfile and 1,640 MB/s by copies for the C reader, 1,311 and 1,556
  MB/s for curl.

So while no more than :data:`COPY_WHEN_AT_MOST` transfers run at once, each :data:`WINDOW`
goes out as copies; with more, this process's CPU is the scarce one and the next window goes
by sendfile. The choice is made again at every window, as transfers start and end.

Both run on a worker thread against the event loop's non-blocking socket, a full socket buffer
waited out with poll(2) on that thread (as :mod:`harborlite.http.zero_copy` does), a client
that takes nothing for :data:`STALL_SECONDS` dropped.
"""

from __future__ import annotations

import errno
import os
import select
import threading
from collections.abc import Callable
from typing import Any

from harborlite.http.zero_copy import FileSender

WINDOW = 16 * 1024 * 1024  # bytes between two looks at how many transfers run
COPY_WHEN_AT_MOST = 2  # transfers at once; with more, everything goes by sendfile
PIECE = 1024 * 1024  # bytes per pread/write in copy mode (the least CPU on both sides, measured)
SENDFILE_SLICE = 8 * 1024 * 1024  # bytes per sendfile(2) call
STALL_SECONDS = 120  # a client that takes nothing for this long is dropped

COPY, SENDFILE = "copy", "sendfile"  # the two ways, as :data:`Tally` names them

# told (way, bytes) after every window, on the worker thread
Tally = Callable[[str, int], None]

_active = 0  # transfers in progress
_active_lock = threading.Lock()


def active_now() -> int:
    """Transfers in progress at this moment."""
    return _active


class _Stalled(Exception):
    pass


class _Gone(Exception):
    pass


def _wait_writable(poller: select.poll) -> None:
    events = poller.poll(STALL_SECONDS * 1000)
    if not events:
        raise _Stalled
    if any(ev & (select.POLLERR | select.POLLHUP) for _, ev in events):
        raise _Gone


class _Progress:
    """Where a transfer is: the next byte of the file to send."""

    def __init__(self) -> None:
        self.offset = 0


def _sendfile_window(
    socket_fd: int, file_fd: int, done: _Progress, end: int, poller: Any, buffer: memoryview
) -> None:
    """Send the file up to ``end`` by sendfile."""
    while done.offset < end:
        try:
            n = os.sendfile(socket_fd, file_fd, done.offset, min(SENDFILE_SLICE, end - done.offset))
        except BlockingIOError:
            _wait_writable(poller)
            continue
        except InterruptedError:
            continue
        if n == 0:
            raise _Gone  # the file is shorter than it was
        done.offset += n


def _copy_window(
    socket_fd: int, file_fd: int, done: _Progress, end: int, poller: Any, buffer: memoryview
) -> None:
    """Send the file up to ``end`` through ``buffer``."""
    while done.offset < end:
        got = os.preadv(file_fd, [buffer[: min(len(buffer), end - done.offset)]], done.offset)
        if got == 0:
            raise _Gone  # the file is shorter than it was
        written = 0
        while written < got:
            try:
                n = os.write(socket_fd, buffer[written:got])
            except BlockingIOError:
                _wait_writable(poller)
                continue
            except InterruptedError:
                continue
            written += n
            done.offset += n


def sender(tally: Tally | None = None) -> FileSender:
    """A file sender for :func:`harborlite.http.zero_copy.send_whole_file` that tells
    ``tally`` how many bytes went each way."""

    def send(socket_fd: int, file_fd: int, count: int) -> int:
        return send_file(socket_fd, file_fd, count, tally)

    return send


def send_file(socket_fd: int, file_fd: int, count: int, tally: Tally | None = None) -> int:
    """Send the first ``count`` bytes of ``file_fd`` on the non-blocking socket ``socket_fd``;
    returns how many went out (fewer when the client left or stalled). Runs in a worker
    thread."""
    global _active
    poller = select.poll()
    poller.register(socket_fd, select.POLLOUT | select.POLLERR | select.POLLHUP)
    buffer = memoryview(bytearray(PIECE))
    done = _Progress()
    with _active_lock:
        _active += 1
    try:
        while done.offset < count:
            end = min(done.offset + WINDOW, count)
            way = COPY if _active <= COPY_WHEN_AT_MOST else SENDFILE
            window = _copy_window if way == COPY else _sendfile_window
            before = done.offset
            try:
                window(socket_fd, file_fd, done, end, poller, buffer)
            finally:
                if tally is not None and done.offset > before:
                    tally(way, done.offset - before)
    except (_Stalled, _Gone):
        pass
    except OSError as error:
        if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF):
            raise
    finally:
        with _active_lock:
            _active -= 1
    return done.offset
