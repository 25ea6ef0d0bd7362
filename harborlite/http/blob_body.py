"""A whole file's bytes to one client: sendfile(2) to a fast reader, copies through a buffer
to a slow one.

sendfile hands the socket references to page-cache pages: the server copies nothing, and the
*reader's* recv copies the bytes out of pages nobody touched lately. A reader that discards
what it gets does not mind; a client that hashes and writes every byte (skopeo, docker,
containerd) is CPU-bound on its side and pays that on every byte. Measured on this 2-core
machine kind over 1 GiB pulls: skopeo spent 5.2 to 5.7 CPU seconds on a pull sent by sendfile,
4.8 s on the same bytes from the registry (its 32 KiB ``write`` calls), 4.5 to 4.7 s on bytes
this process ``pread``s into a 1 MiB buffer and ``write``s (hot in the cache when the reader
copies them); that difference was the 0.84x harborlite had on that pull. So:

- every :data:`WINDOW` bytes the worker looks at how fast the client took the bytes so far
  (from :data:`JUDGED_AFTER` on: a busy moment of the machine is not a slow reader);
- below :data:`SLOW_READER` bytes a second (skopeo tops out at 260 MB/s here, copying between
  two local layouts; the bench's C reader takes 1.7 to 2.1 GB/s), and while no more than
  :data:`COPY_WHEN_AT_MOST` transfers run at once (with many clients this process's CPU is the
  scarce one), the next window goes out as copies; otherwise by sendfile. The copies cost
  this process about 0.25 CPU seconds more per GiB than sendfile.

Both run on a worker thread against the event loop's non-blocking socket, a full socket buffer
waited out with poll(2) on that thread (as :mod:`harborlite.http.zero_copy` does), a client
that takes nothing for :data:`STALL_SECONDS` dropped.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import Any

WINDOW = 16 * 1024 * 1024  # bytes between two looks at the client's pace
JUDGED_AFTER = 4 * WINDOW  # the pace is judged from the first byte once this much went
SLOW_READER = 400_000_000  # bytes/s: a client slower than this gets copies
COPY_WHEN_AT_MOST = 2  # transfers at once; with more, everything goes by sendfile
PIECE = 1024 * 1024  # bytes per pread/write in copy mode (the least CPU on both sides, measured)
SENDFILE_SLICE = 8 * 1024 * 1024  # bytes per sendfile(2) call
STALL_SECONDS = 120  # a client that takes nothing for this long is dropped

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


def send_file_paced(socket_fd: int, file_fd: int, count: int) -> int:
    """Send the first ``count`` bytes of ``file_fd`` on the non-blocking socket ``socket_fd``;
    returns how many went out (fewer when the client left or stalled). Runs in a worker
    thread."""
    global _active
    poller = select.poll()
    poller.register(socket_fd, select.POLLOUT | select.POLLERR | select.POLLHUP)
    buffer = memoryview(bytearray(PIECE))
    done = _Progress()
    copy = False
    with _active_lock:
        _active += 1
    try:
        started = time.monotonic()
        while done.offset < count:
            end = min(done.offset + WINDOW, count)
            window = _copy_window if copy else _sendfile_window
            window(socket_fd, file_fd, done, end, poller, buffer)
            # the pace since the first byte, judged once a few windows went: one window slowed
            # by a busy moment of this machine does not turn a fast reader to copies
            pace = done.offset / max(time.monotonic() - started, 1e-6)
            copy = (
                done.offset >= JUDGED_AFTER and pace < SLOW_READER and _active <= COPY_WHEN_AT_MOST
            )
    except (_Stalled, _Gone):
        pass
    except OSError as error:
        if error.errno not in (errno.EPIPE, errno.ECONNRESET, errno.ENOTCONN, errno.EBADF):
            raise
    finally:
        with _active_lock:
            _active -= 1
    return done.offset
