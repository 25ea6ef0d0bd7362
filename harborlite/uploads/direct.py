"""Blob uploads harborlite writes into the registry's filesystem storage itself (issue 16).

The registry (distribution 2.8, Go's SHA-256 without SHA-NI) hashes every byte it receives at
about 250-300 MB/s; Python's hashlib (OpenSSL) is several times faster. So with filesystem
storage harborlite receives an upload, hashes it and writes it where distribution would:

- an upload in progress is ``repositories/<name>/_uploads/<uuid>/`` with ``data`` (the bytes so
  far) and ``startedat`` (RFC 3339, UTC): the purge job, the quota's partial-upload listing and
  the registry's own purge see it like one of the registry's;
- committing checks the digest (the hasher kept in this process while the upload grows, or the
  file hashed again when this process does not hold it: a restart, another replica), renames
  ``data`` to ``blobs/sha256/<2 hex>/<hex>/data`` (a blob already there is kept), writes the
  repository's link ``_layers/sha256/<hex>/link`` atomically and removes the upload's folder;
  the registry (and harborlite's storage path) then serve the blob as one it stored.

No HTTP here: :mod:`harborlite.v2.direct_uploads` reads requests and answers them. File work
runs in threads; a body is written in slices, the next slice received while the last one is
written and hashed (a last slice of at most 64 KiB is written and hashed on the event loop).
"""

from __future__ import annotations

import asyncio
import hashlib
import os
import re
import shutil
import time
import uuid as uuids
from collections import OrderedDict
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harborlite.settings import Settings
from harborlite.storage import layout

SLICE = 1024 * 1024  # bytes received before they are written and hashed (in a thread)
# a last slice this small is written and hashed on the event loop (microseconds): handing it
# to two threads costs more than the work (a small image's config and layer, every push)
INLINE = 64 * 1024
HASHERS_KEPT = 4096  # uploads whose running hash this process keeps (a few hundred bytes each)
_UUID = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")
_LENGTHS = {"sha256": 64, "sha512": 128}


def enabled(settings: Settings) -> bool:
    """``HARBORLITE_DIRECT_UPLOADS``: ``auto`` (on for the embedded registry's folder), ``on``
    (also an external registry's folder mounted at ``HARBORLITE_REGISTRY_STORAGE``), ``off``."""
    mode = settings.direct_uploads
    if mode == "off" or settings.storage != "filesystem":
        return False
    if settings.registry_storage_root is None:
        return False
    return mode == "on" or settings.embedded_registry


class UploadUnknown(Exception):
    """No such upload (never started, completed, cancelled or purged)."""


class RangeInvalid(Exception):
    """A chunk whose start is not where the upload ends."""

    def __init__(self, size: int) -> None:
        super().__init__(f"the upload holds {size} bytes")
        self.size = size


class DigestMismatch(Exception):
    """The bytes do not hash to the digest the client named (``args``: named, found); the
    upload is removed."""


class DigestUnsupported(Exception):
    """Not a digest this registry verifies (sha256, sha512)."""


class ClientLeft(Exception):
    """The body stopped before it was complete (the client left, or was cut off)."""


@dataclass
class _Hasher:
    offset: int  # bytes hashed so far: equal to the upload's size when it can go on
    hasher: Any  # hashlib's sha256 object


@dataclass(frozen=True)
class Committed:
    digest: str
    size: int
    existed: bool  # the blob was in storage already: the upload was dropped


def _started_at() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


class UploadSessions:
    """Uploads in the storage under ``root``; one per process (it keeps the running hashes)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._hashers: OrderedDict[str, _Hasher] = OrderedDict()
        self._locks: dict[str, asyncio.Lock] = {}

    # ------------------------------------------------------------------ where things are

    def folder(self, name: str, upload: str) -> Path:
        if not _UUID.match(upload) or ".." in name.split("/"):
            raise UploadUnknown(upload)
        return self.root / layout.repository(name) / "_uploads" / upload

    def size(self, name: str, upload: str) -> int:
        """Bytes the upload holds; :class:`UploadUnknown` when there is none."""
        try:
            return os.stat(self.folder(name, upload) / "data").st_size
        except (FileNotFoundError, NotADirectoryError):
            raise UploadUnknown(upload) from None

    # ------------------------------------------------------------------ the steps

    async def start(self, name: str) -> str:
        upload = str(uuids.uuid4())
        folder = self.folder(name, upload)
        await asyncio.to_thread(_create, folder)
        self._keep(upload, _Hasher(0, hashlib.sha256()))
        return upload

    async def append(
        self, name: str, upload: str, body: AsyncIterator[bytes], start: int | None = None
    ) -> int:
        """Add ``body`` to the upload (``start``: where the client says it begins, checked);
        the upload's size after. :class:`ClientLeft` keeps what was written."""
        async with self._lock(upload):
            size = self.size(name, upload)
            if start is not None and start != size:
                raise RangeInvalid(size)
            return await self._append(name, upload, body, size)

    async def commit(
        self, name: str, upload: str, digest: str, body: AsyncIterator[bytes] | None
    ) -> Committed:
        """Add the last ``body`` (if any), verify ``digest``, move the blob into place."""
        match = _DIGEST.match(digest)
        if match is None or len(match.group(2)) != _LENGTHS[match.group(1)]:
            raise DigestUnsupported(digest)
        async with self._lock(upload):
            size = self.size(name, upload)
            if body is not None:
                size = await self._append(name, upload, body, size)
            folder = self.folder(name, upload)
            held = self._hashers.pop(upload, None)
            if match.group(1) == "sha256" and held is not None and held.offset == size:
                found = "sha256:" + held.hasher.hexdigest()
            else:  # not held here (a restart, another replica), or another algorithm
                found = await asyncio.to_thread(_hash_file, folder / "data", match.group(1))
            if found != digest:
                await asyncio.to_thread(shutil.rmtree, folder, True)
                raise DigestMismatch(digest, found)
            existed = await asyncio.to_thread(self._place, name, folder, digest)
        self._locks.pop(upload, None)
        return Committed(digest, size, existed)

    async def cancel(self, name: str, upload: str) -> None:
        folder = self.folder(name, upload)
        if not folder.is_dir():
            raise UploadUnknown(upload)
        async with self._lock(upload):
            self._hashers.pop(upload, None)
            await asyncio.to_thread(shutil.rmtree, folder, True)
        self._locks.pop(upload, None)

    # ------------------------------------------------------------------ the work

    def _lock(self, upload: str) -> asyncio.Lock:
        lock = self._locks.get(upload)
        if lock is None:
            lock = self._locks[upload] = asyncio.Lock()
            while len(self._locks) > HASHERS_KEPT:  # the oldest idle one goes
                oldest = next(iter(self._locks))
                if self._locks[oldest].locked():
                    break
                del self._locks[oldest]
        return lock

    def _keep(self, upload: str, held: _Hasher) -> None:
        self._hashers[upload] = held
        self._hashers.move_to_end(upload)
        while len(self._hashers) > HASHERS_KEPT:
            self._hashers.popitem(last=False)  # hashed again from the file if it completes

    async def _append(self, name: str, upload: str, body: AsyncIterator[bytes], size: int) -> int:
        held = self._hashers.pop(upload, None)
        if held is not None and held.offset != size:
            held = None  # written by another process meanwhile: hash the file at commit
        if held is None and size == 0:
            held = _Hasher(0, hashlib.sha256())
        path = self.folder(name, upload) / "data"
        try:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        except FileNotFoundError:
            raise UploadUnknown(upload) from None
        loop = asyncio.get_running_loop()
        pending: asyncio.Future[Any] | None = None
        written = size
        failed: BaseException | None = None

        async def settle() -> None:
            nonlocal pending, written, held
            if pending is None:
                return
            step, pending = pending, None
            sizes = await step
            written += sizes[0]
            if held is not None:
                held.offset += sizes[0]

        def flush(parts: list[bytes]) -> asyncio.Future[Any]:
            data = b"".join(parts)
            hasher = None if held is None else held.hasher
            if len(data) <= INLINE:
                done: asyncio.Future[Any] = loop.create_future()
                try:
                    sizes = (_write_all(fd, data),)
                    if hasher is not None:
                        hasher.update(data)
                except Exception as error:  # raised where a thread's would be: at settle
                    done.set_exception(error)
                else:
                    done.set_result(sizes)
                return done
            writing = loop.run_in_executor(None, _write_all, fd, data)
            if hasher is None:
                return asyncio.gather(writing)
            return asyncio.gather(writing, loop.run_in_executor(None, hasher.update, data))

        try:
            parts: list[bytes] = []
            gathered = 0
            try:
                async for chunk in body:
                    parts.append(chunk)
                    gathered += len(chunk)
                    if gathered >= SLICE:
                        await settle()
                        pending = flush(parts)
                        parts, gathered = [], 0
            except BaseException as error:  # what came before is kept, as the registry does
                failed = error
            await settle()
            if parts:
                pending = flush(parts)
                await settle()
        except BaseException:
            held = None  # the file and the hash may differ: hash the file at commit
            raise
        finally:
            os.close(fd)
            if held is not None:
                self._keep(upload, held)
        if failed is not None:
            raise failed
        return written

    def _place(self, name: str, folder: Path, digest: str) -> bool:
        """Blob data and the repository's link; whether the blob was there already."""
        data_key = layout.blob_data(digest)
        link_key = layout.layer_link(name, digest)
        assert data_key is not None and link_key is not None
        target = self.root / data_key
        existed = target.is_file()
        if not existed:
            target.parent.mkdir(parents=True, exist_ok=True)
            os.replace(folder / "data", target)  # same file system: atomic
        link = self.root / link_key
        link.parent.mkdir(parents=True, exist_ok=True)
        temporary = link.with_name(f".link.{uuids.uuid4().hex}")
        temporary.write_bytes(digest.encode())
        os.replace(temporary, link)
        shutil.rmtree(folder, ignore_errors=True)
        return existed


def _create(folder: Path) -> None:
    folder.mkdir(parents=True)
    (folder / "data").touch()
    (folder / "startedat").write_text(_started_at())


def _write_all(fd: int, data: bytes) -> int:
    view = memoryview(data)
    while view:
        done = os.write(fd, view)
        view = view[done:]
    return len(data)


def _hash_file(path: Path, algorithm: str) -> str:
    hasher = hashlib.new(algorithm)
    with open(path, "rb") as file:
        while chunk := file.read(4 * SLICE):
            hasher.update(chunk)
    return f"{algorithm}:{hasher.hexdigest()}"
