"""One upstream transfer of a blob, shared: spooled for every reader, uploaded locally as it comes.

A :class:`BlobFill` reads the blob from upstream once. Each chunk goes, as it arrives, to a
spool file (every client pulling the blob at that moment tails it, so a second client neither
waits for the whole blob nor makes a second upstream request) and into an upload to the local
registry (a tee). The upload is committed only when the stream is complete and its SHA-256 is
the digest asked for; a broken or wrong stream cancels the upload, so the registry keeps
nothing half-done, and the readers' streams break too (their client sees a cut download, never
wrong bytes as complete). :class:`Fills` runs one fill per key at a time (single flight).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import os
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Coroutine
from contextlib import AbstractAsyncContextManager
from pathlib import Path
from typing import Any, BinaryIO

from harborlite.remote.types import BlobStream

log = logging.getLogger("harborlite.proxycache")

READ_CHUNK = 1024 * 1024
QUEUED_CHUNKS = 16

Store = Callable[[AsyncIterator[bytes]], Coroutine[Any, Any, None]]


class FillBroken(Exception):
    """The upstream stream broke or did not match its digest: nothing was stored."""


class Pace:
    """Keeps one transfer under ``bytes_per_second`` (None: no limit)."""

    def __init__(self, bytes_per_second: int | None) -> None:
        self.rate = bytes_per_second
        self.started = time.monotonic()
        self.moved = 0

    async def moved_bytes(self, count: int) -> None:
        self.moved += count
        if not self.rate:
            return
        ahead = self.moved / self.rate - (time.monotonic() - self.started)
        if ahead > 0:
            await asyncio.sleep(ahead)


class BlobFill:
    def __init__(self, spool_dir: Path, digest: str) -> None:
        spool_dir.mkdir(parents=True, exist_ok=True)
        fd, path = tempfile.mkstemp(dir=spool_dir, prefix="blob-")
        os.unlink(path)  # no name: nothing is left behind, whatever happens to the process
        self._file: BinaryIO = os.fdopen(fd, "w+b")
        self.digest = digest
        self.size: int | None = None
        self.written = 0
        self.held = 0  # the last chunk's bytes: readers get them once the digest is checked
        self.finished = False
        self.stored = False
        self.error: Exception | None = None
        self._changed = asyncio.Condition()

    async def wake(self) -> None:
        await self._notify()

    async def _notify(self) -> None:
        async with self._changed:
            self._changed.notify_all()

    async def run(
        self,
        source: AbstractAsyncContextManager[BlobStream],
        store: Store,
        pace: Pace,
    ) -> None:
        """Read upstream to the end: spool, tee into ``store``, verify, commit."""
        queue: asyncio.Queue[bytes | None] = asyncio.Queue(maxsize=QUEUED_CHUNKS)
        broken = asyncio.Event()

        async def body() -> AsyncIterator[bytes]:
            while True:
                item = await queue.get()
                if item is None:
                    if broken.is_set():
                        raise FillBroken(f"the upstream stream of {self.digest} broke")
                    return
                yield item

        upload = asyncio.create_task(store(body()), name=f"proxy-upload-{self.digest[:19]}")
        hasher = hashlib.sha256()
        try:
            async with source as stream:
                self.size = stream.size
                await self._notify()
                async for chunk in stream.chunks:
                    if not chunk:
                        continue
                    hasher.update(chunk)
                    self._file.write(chunk)
                    self._file.flush()
                    self.written += len(chunk)
                    self.held = len(chunk)
                    await self._notify()
                    if not upload.done():
                        await queue.put(chunk)
                    await pace.moved_bytes(len(chunk))
            got = "sha256:" + hasher.hexdigest()
            if got != self.digest or (self.size is not None and self.size != self.written):
                raise FillBroken(f"upstream sent {got} ({self.written} bytes) for {self.digest}")
            self.held = 0  # verified: readers may have the end
            await self._notify()
            await queue.put(None)
            try:
                await upload
                self.stored = True
            except Exception as error:  # the client got its bytes; the next pull tries again
                log.warning("could not store %s in the local registry: %r", self.digest, error)
        except Exception as error:
            if isinstance(error, FillBroken):
                self.error = error
            else:
                self.error = FillBroken(str(error) or repr(error))
                self.error.__cause__ = error
            broken.set()
            while not upload.done():
                try:
                    queue.put_nowait(None)
                    break
                except asyncio.QueueFull:
                    queue.get_nowait()  # drop a chunk: the upload is cancelled anyway
            try:
                await upload
            except Exception:
                pass
            log.warning("proxy fill of %s failed: %r", self.digest, error)
        finally:
            self.finished = True
            await self._notify()

    def reader(self) -> BinaryIO:
        """Open the spool (a file without a name) for one reader; called right after the fill
        is looked up, with no await in between, so the spool is still open."""
        return open(f"/proc/self/fd/{self._file.fileno()}", "rb")  # closed by chunks()

    async def wait_size(self) -> int | None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.size is not None or self.finished)
        return self.size

    async def chunks(self, spool: BinaryIO) -> AsyncIterator[bytes]:
        """The blob's bytes as they arrive; FillBroken when the upstream stream broke."""
        position = 0
        try:
            while True:
                readable = self.readable()
                if position < readable:
                    data = spool.read(min(READ_CHUNK, readable - position))
                    position += len(data)
                    yield data
                    continue
                if self.finished:
                    if self.error is not None:
                        raise self.error
                    return
                await self._wait_past(position)
        finally:
            spool.close()

    async def _wait_past(self, position: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self.readable() > position or self.finished)

    def readable(self) -> int:
        """What readers may have: all but the last chunk until the digest is checked, so a
        wrong or short stream never reaches a client as a complete blob."""
        return self.written - self.held

    def close_spool(self) -> None:
        """Once nobody new can find the fill: readers keep their own descriptors."""
        self._file.close()


class Fills:
    """The fills in flight, one per key (``repository@digest``)."""

    def __init__(self, spool_dir: Path) -> None:
        self.spool_dir = spool_dir
        self._active: dict[str, tuple[BlobFill, asyncio.Task[None]]] = {}
        self.started = 0  # upstream transfers begun (for tests and metrics)

    def active(self, key: str) -> tuple[BlobFill, asyncio.Task[None]] | None:
        return self._active.get(key)

    def start(
        self,
        key: str,
        digest: str,
        source: Callable[[], AbstractAsyncContextManager[BlobStream]],
        store: Store,
        pace: Pace,
        gate: asyncio.Semaphore | None = None,
    ) -> tuple[BlobFill, asyncio.Task[None]]:
        """The fill of ``key``: the one in flight, or a new one (never two at once)."""
        found = self._active.get(key)
        if found is not None:
            return found
        fill = BlobFill(self.spool_dir, digest)

        async def run() -> None:
            try:
                if gate is None:
                    await fill.run(source(), store, pace)
                else:
                    async with gate:
                        await fill.run(source(), store, pace)
            finally:
                if not fill.finished:  # cancelled before it could run: readers must not wait
                    fill.error = FillBroken(f"the transfer of {digest} was cancelled")
                    fill.finished = True
                    await fill.wake()
                self._active.pop(key, None)
                fill.close_spool()  # readers hold their own; nobody new finds it

        self.started += 1
        task = asyncio.create_task(run(), name=f"proxy-fill-{digest[:19]}")
        self._active[key] = (fill, task)
        return fill, task
