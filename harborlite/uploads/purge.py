"""Abandoned uploads: a blob upload a client started and never finished stays in the registry's
storage (``docker/registry/v2/repositories/<name>/_uploads/<uuid>/``, its bytes in ``data``, its
start in ``startedat``; on S3 also an unfinished multipart upload) until someone removes it. The
registry's own purge waits a week; this job removes every upload started more than
``upload_purge_hours`` ago (24 by default), hourly on the job mechanism, and on demand, on a
folder or an S3 bucket alike. It logs each upload it removes.
"""

from __future__ import annotations

import asyncio
import logging
import time
from datetime import UTC, datetime

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.db.models import JobExecution
from harborlite.jobs import operations as jobs
from harborlite.jobs.runner import JobContext
from harborlite.storage.configured import StorageLike, storage_of
from harborlite.storage.store import Upload

log = logging.getLogger("harborlite.uploads")

UPLOAD_PURGE = "UPLOAD_PURGE"

__all__ = ["UPLOAD_PURGE", "Upload", "ensure_hourly", "purge", "purge_now", "uploads"]


def uploads(where: StorageLike) -> list[Upload]:
    """Every unfinished upload in the registry's storage (repository names may nest)."""
    storage = storage_of(where)
    return [] if storage is None else storage.uploads()


def purge(where: StorageLike, max_age_seconds: float, now: float | None = None) -> list[Upload]:
    """Remove the uploads started more than ``max_age_seconds`` ago; the ones removed."""
    storage = storage_of(where)
    if storage is None:
        return []
    cutoff = (time.time() if now is None else now) - max_age_seconds
    return [u for u in storage.uploads() if u.started < cutoff and storage.remove_upload(u)]


async def run_upload_purge(context: JobContext, where: StorageLike, hours: int) -> None:
    """The job: purge, then log each removed upload (in the execution's log and harborlite's)."""
    storage = storage_of(where)
    if storage is None:
        context.log("no registry storage harborlite can reach: nothing to purge")
        context.result["removed"] = 0
        return
    context.log(f"purging uploads started more than {hours} h ago in {storage.describe()}")
    removed = await asyncio.to_thread(purge, storage, hours * 3600.0)
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
