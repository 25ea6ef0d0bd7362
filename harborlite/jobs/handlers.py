"""Which function runs each kind of background job: composed here, with what each needs."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from harborlite.endpoints.health import HEALTH_JOB, run_health_job
from harborlite.gc.job import GC, run_gc
from harborlite.jobs.runner import Handler, JobContext
from harborlite.replication.handler import replication_handler
from harborlite.replication.operations import REPLICATION
from harborlite.retention.job import run_retention
from harborlite.retention.operations import RETENTION
from harborlite.scanning.handlers import scan_handlers
from harborlite.sealing import SecretBox
from harborlite.settings import Settings
from harborlite.storage.configured import registry_storage
from harborlite.uploads.purge import UPLOAD_PURGE, run_upload_purge
from harborlite.webhooks.delivery import run_delivery
from harborlite.webhooks.enqueue import host_of, queue_event, retention_event
from harborlite.webhooks.operations import WEBHOOK

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
        async def finished(project: str, data: dict[str, Any]) -> None:  # TAG_RETENTION hook
            who = str(context.parameters.get("triggered_by") or "system")
            async with context.sessions() as session:
                event = retention_event(project, who, data)
                await queue_event(session, host_of(settings.external_url), event)
                await session.commit()

        await run_retention(context, upstream, finished)

    async def upload_purge(context: JobContext) -> None:
        await run_upload_purge(context, storage, settings.upload_purge_hours)

    async def webhook(context: JobContext) -> None:
        await run_delivery(
            context,
            timeout=float(settings.webhook_timeout_seconds),
            retries=settings.webhook_retries,
        )

    async def registry_health(context: JobContext) -> None:
        await run_health_job(context, SecretBox.for_data_dir(settings.data_dir))

    handlers: dict[str, Handler] = {
        GC: gc,
        RETENTION: retention,
        UPLOAD_PURGE: upload_purge,
        **scan_handlers(settings, upstream.signer),
        HEALTH_JOB: registry_health,
        REPLICATION: replication_handler(settings, upstream.signer),
        WEBHOOK: webhook,
    }
    return handlers
