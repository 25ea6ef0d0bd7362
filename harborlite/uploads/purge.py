"""Abandoned uploads: a blob upload a client started and never finished stays in the registry's
storage (``<root>/docker/registry/v2/repositories/<name>/_uploads/<uuid>/``, its bytes in
``data``, its start in ``startedat``) until someone removes it. The registry's own purge waits a
week; this job removes every upload started more than ``upload_purge_hours`` ago (24 by
default), hourly on the job mechanism, and on demand. It logs each upload it removes.
"""

from __future__ import annotations

import asyncio
import logging
import os
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import JobExecution
from harborlite.jobs import operations as jobs
from harborlite.jobs.runner import JobContext

log = logging.getLogger("harborlite.uploads")

UPLOAD_PURGE = "UPLOAD_PURGE"
_SKIPPED = ("_layers", "_manifests")  # a repository's other folders: no uploads in them


@dataclass(frozen=True)
class Upload:
    repository: str
    uuid: str
    path: Path
    started: float  # seconds since the epoch


def repositories_root(storage_root: Path) -> Path:
    return storage_root / "docker" / "registry" / "v2" / "repositories"


def uploads(storage_root: Path) -> Iterator[Upload]:
    """Every unfinished upload in the registry's storage (repository names may nest)."""
    root = repositories_root(storage_root)
    for folder, children, _files in os.walk(root):
        if "_uploads" in children:
            repository = os.path.relpath(folder, root)
            for upload in sorted(Path(folder, "_uploads").iterdir()):
                if upload.is_dir():
                    yield Upload(repository, upload.name, upload, _started(upload))
        children[:] = [c for c in children if c not in ("_uploads", *_SKIPPED)]


def _started(upload: Path) -> float:
    """When the upload started: its ``startedat`` (RFC 3339, as the registry writes it), else
    the folder's modification time."""
    try:
        written = (upload / "startedat").read_text().strip()
        return datetime.fromisoformat(written.replace("Z", "+00:00")).timestamp()
    except (OSError, ValueError):
        try:
            return upload.stat().st_mtime
        except OSError:
            return time.time()  # gone meanwhile: never purged on a guess


def purge(storage_root: Path, max_age_seconds: float, now: float | None = None) -> list[Upload]:
    """Remove the uploads started more than ``max_age_seconds`` ago; the ones removed."""
    cutoff = (time.time() if now is None else now) - max_age_seconds
    removed = []
    for upload in uploads(storage_root):
        if upload.started < cutoff:
            shutil.rmtree(upload.path, ignore_errors=True)
            if not upload.path.exists():
                removed.append(upload)
    return removed


async def run_upload_purge(context: JobContext, storage_root: Path | None, hours: int) -> None:
    """The job: purge, then log each removed upload (in the execution's log and harborlite's)."""
    if storage_root is None:
        context.log("no registry storage harborlite can reach: nothing to purge")
        context.result["removed"] = 0
        return
    context.log(f"purging uploads started more than {hours} h ago")
    removed = await asyncio.to_thread(purge, storage_root, hours * 3600.0)
    for upload in removed:
        started = datetime.fromtimestamp(upload.started, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        context.log(f"removed upload {upload.uuid} of {upload.repository} (started {started})")
        log.info("purged the abandoned upload %s of %s", upload.uuid, upload.repository)
    context.log(f"removed {len(removed)} abandoned uploads")
    context.result["removed"] = len(removed)


async def ensure_hourly(session: AsyncSession) -> None:
    """Schedule the purge hourly unless it has a schedule already (the caller commits)."""
    schedule = await jobs.get_schedule(session, UPLOAD_PURGE)
    if schedule is None or (schedule.schedule_type == "None" and not schedule.cron):
        await jobs.set_schedule(session, UPLOAD_PURGE, "Hourly", None, {})


async def purge_now(session: AsyncSession) -> JobExecution:
    """Run the purge now (the caller commits; 412 while one runs)."""
    return await jobs.start(session, UPLOAD_PURGE, {})
