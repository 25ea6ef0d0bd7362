"""Endpoint health: a ping with a time limit, its verdict recorded on the endpoint.

``healthy`` when ``GET /v2/`` answers (and accepts the credentials, when there are any),
``unhealthy`` otherwise, with the reason in ``status_message``. The API checks an endpoint
when it is created or updated; :func:`check_all` (the ``registry-health`` job of the job
runner, scheduled every few minutes) keeps every endpoint's status up to date, which proxy-cache
projects read before they contact upstream (Harbor's ``canProxy``).
"""

from __future__ import annotations

import asyncio
import logging

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import utcnow
from harborlite.endpoints import queries
from harborlite.endpoints.queries import Endpoint
from harborlite.jobs import operations as jobs
from harborlite.jobs.runner import JobContext
from harborlite.remote.client import RemoteRegistry
from harborlite.remote.errors import RemoteError
from harborlite.sealing import SecretBox

log = logging.getLogger("harborlite")

PING_SECONDS = 10.0
HEALTHY, UNHEALTHY, UNKNOWN = "healthy", "unhealthy", "unknown"


async def ping(endpoint: Endpoint, timeout: float = PING_SECONDS) -> str | None:
    """None when the endpoint answers; otherwise why not."""
    try:
        async with RemoteRegistry(endpoint) as client:
            await asyncio.wait_for(client.ping(), timeout)
    except RemoteError as error:
        return error.message
    except TimeoutError:
        return f"no answer within {timeout:g} s"
    return None


async def refresh(
    sessions: async_sessionmaker[AsyncSession], registry_id: int, secrets: SecretBox
) -> str:
    """Ping one endpoint (no session held meanwhile) and record its status; the status."""
    async with sessions() as session:
        endpoint = await queries.get_endpoint(session, registry_id, secrets)
    if endpoint is None:
        return UNKNOWN
    problem = await ping(endpoint)
    status = HEALTHY if problem is None else UNHEALTHY
    async with sessions.begin() as session:
        await queries.record_health(session, registry_id, status, problem or "", utcnow())
    if problem is not None:
        log.info("registry %s (%d) is unhealthy: %s", endpoint.name, endpoint.id, problem)
    return status


async def check_all(
    sessions: async_sessionmaker[AsyncSession], secrets: SecretBox
) -> dict[int, str]:
    """Refresh every endpoint's status, a few at a time; their statuses by id."""
    async with sessions() as session:
        ids = await queries.all_registry_ids(session)
    gate = asyncio.Semaphore(4)

    async def one(registry_id: int) -> tuple[int, str]:
        async with gate:
            return registry_id, await refresh(sessions, registry_id, secrets)

    return dict(await asyncio.gather(*(one(i) for i in ids)))


HEALTH_JOB = "registry_health"  # the background job kind
HEALTH_CRON = "0 */5 * * * *"  # every five minutes (Harbor's 6-field cron)


async def ensure_schedule(session: AsyncSession) -> None:
    """Schedule the health job (once: the first endpoint created makes the schedule)."""
    if await jobs.get_schedule(session, HEALTH_JOB) is None:
        await jobs.set_schedule(session, HEALTH_JOB, "Custom", HEALTH_CRON, {})


async def run_health_job(context: JobContext, secrets: SecretBox) -> None:
    """The ``registry_health`` job: one endpoint (``registry_id``, queued by a create or an
    update) or every endpoint (the schedule) pinged, its status recorded."""
    one = context.parameters.get("registry_id")
    if isinstance(one, int):
        statuses = {one: await refresh(context.sessions, one, secrets)}
    else:
        statuses = await check_all(context.sessions, secrets)
    for registry_id, status in sorted(statuses.items()):
        context.log(f"registry {registry_id}: {status}")
    context.result["statuses"] = {str(key): value for key, value in statuses.items()}


async def queue_check(session: AsyncSession, registry_id: int) -> None:
    """Check this endpoint soon (a ``registry_health`` execution, run after the commit)."""
    await jobs.start(
        session,
        HEALTH_JOB,
        {"registry_id": registry_id},
        ref=f"registry:{registry_id}",
        trigger="EVENT",
        exclusive=False,
    )
