"""What a project's pushes left unfinished, read from the registry's filesystem storage.

Distribution keeps an upload in progress under ``repositories/<name>/_uploads/<id>/`` (``data``
growing with each chunk, ``startedat`` holding when it began) until it is completed or purged.
None of it counts against a quota: only a completed upload does. An upload nobody wrote to
within the upload window is abandoned (its client gave up); the registry's own purge removes it
later (distribution's ``uploadpurging``, a week by default).
"""

from __future__ import annotations

import asyncio
import os
import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPOSITORIES = Path("docker/registry/v2/repositories")
BLOBS = Path("docker/registry/v2/blobs")
_DIGEST = re.compile(r"^(sha256|sha512):([a-f0-9]{64}|[a-f0-9]{128})$")
_NANOSECONDS = re.compile(r"(\.\d{1,6})\d*")
_UPLOAD_ID = re.compile(r"^[A-Za-z0-9-]{1,64}$")


@dataclass(frozen=True)
class PartialUpload:
    repository: str
    id: str
    size: int  # bytes received so far
    started_at: datetime | None
    last_write: datetime
    abandoned: bool


def blob_size_on_disk(storage_root: Path | None, digest: str) -> int | None:
    """The size of a blob in the registry's storage, or None when unknown there."""
    match = _DIGEST.match(digest)
    if storage_root is None or match is None:
        return None
    algorithm, hexdigest = match.groups()
    try:
        return (
            (storage_root / BLOBS / algorithm / hexdigest[:2] / hexdigest / "data").stat().st_size
        )
    except OSError:
        return None


def upload_size_on_disk(storage_root: Path | None, repository: str, upload_id: str) -> int | None:
    """How many bytes an upload in progress holds, or None when unknown there."""
    if storage_root is None or ".." in repository or not _UPLOAD_ID.match(upload_id):
        return None
    path = storage_root / REPOSITORIES / repository / "_uploads" / upload_id / "data"
    try:
        return path.stat().st_size
    except OSError:
        return None


def _started(folder: Path) -> datetime | None:
    try:
        text = (folder / "startedat").read_text().strip()
    except OSError:
        return None
    text = _NANOSECONDS.sub(r"\1", text).replace("Z", "+00:00")  # Python reads microseconds
    try:
        parsed = datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def _read(folder: Path, repository: str, cutoff: datetime) -> PartialUpload | None:
    try:
        data = (folder / "data").stat()
    except OSError:
        return None
    started = _started(folder)
    last = datetime.fromtimestamp(data.st_mtime, UTC)
    if started is not None:
        last = max(last, started)
    return PartialUpload(repository, folder.name, data.st_size, started, last, last < cutoff)


def scan_partial_uploads(
    storage_root: Path, project: str, *, now: datetime, window: timedelta, limit: int
) -> list[PartialUpload]:
    """Every upload in progress in the project's repositories, newest first (at most
    ``limit``). Repositories the index does not list yet (a first push cut short) are read too:
    the registry's folders are walked, not the index."""
    top = storage_root / REPOSITORIES
    base = top / project
    cutoff = now - window
    found: list[PartialUpload] = []
    for folder, children, _ in os.walk(base):
        here = Path(folder)
        if "_uploads" in children:
            repository = here.relative_to(top).as_posix()
            uploads = here / "_uploads"
            try:
                entries = sorted(uploads.iterdir())
            except OSError:
                entries = []
            for entry in entries:
                upload = _read(entry, repository, cutoff)
                if upload is not None:
                    found.append(upload)
        children[:] = [name for name in children if not name.startswith("_")]
    found.sort(key=lambda u: (u.last_write, u.id), reverse=True)
    return found[:limit]


async def partial_uploads(
    storage_root: Path | None, project: str, *, now: datetime, window: timedelta, limit: int = 1000
) -> list[PartialUpload] | None:
    """The project's uploads in progress; None when harborlite cannot read the storage."""
    if storage_root is None or not (storage_root / REPOSITORIES).is_dir():
        return None
    return await asyncio.to_thread(
        scan_partial_uploads, storage_root, project, now=now, window=window, limit=limit
    )
