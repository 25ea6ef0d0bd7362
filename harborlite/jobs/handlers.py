"""Which function runs each kind of background job: composed here, with what each needs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from harborlite.gc.job import GC, run_gc
from harborlite.jobs.runner import Handler, JobContext
from harborlite.retention.job import run_retention
from harborlite.retention.operations import RETENTION
from harborlite.scanning.handlers import scan_handlers
from harborlite.settings import Settings
from harborlite.storage.configured import registry_storage
from harborlite.uploads.purge import UPLOAD_PURGE, run_upload_purge

if TYPE_CHECKING:
    from harborlite.upstream.client import Upstream


def job_handlers(settings: Settings, upstream: Upstream) -> dict[str, Handler]:
    """Every job kind this process can run (a kind another replica knows but this one does
    not stays pending for that one)."""
    window = settings.gc_time_window_minutes * 60.0
    storage = registry_storage(settings)

    async def gc(context: JobContext) -> None:
        await run_gc(context, upstream, storage, window)

    async def retention(context: JobContext) -> None:
        await run_retention(context, upstream)

    async def upload_purge(context: JobContext) -> None:
        await run_upload_purge(context, storage, settings.upload_purge_hours)

    handlers: dict[str, Handler] = {
        GC: gc,
        RETENTION: retention,
        UPLOAD_PURGE: upload_purge,
        **scan_handlers(settings, upstream.signer),
    }
    return handlers
