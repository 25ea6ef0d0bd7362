"""Endpoint health against real processes: a real ``docker-registry`` answers (healthy), a port
nobody listens on does not (unhealthy, with why); the scheduled job checks every endpoint and
the first endpoint created schedules it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.audit.events import Actor
from harborlite.db.engine import make_engine, migrate
from harborlite.endpoints import health, operations, queries
from harborlite.jobs import operations as jobs
from harborlite.jobs.runner import JobContext
from harborlite.sealing import SecretBox
from tests.support.processes import RegistryServer, free_port

pytestmark = pytest.mark.filterwarnings("ignore::UserWarning")


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'h.db'}")
    await migrate(engine)
    try:
        yield async_sessionmaker(engine, expire_on_commit=False)
    finally:
        await engine.dispose()


async def test_the_health_job_checks_every_endpoint(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    box = SecretBox.for_data_dir(tmp_path)
    by = Actor("tester")
    with RegistryServer(tmp_path / "registry") as registry:
        async with sessions.begin() as session:
            up = await operations.create_registry(
                session, {"name": "up", "type": "docker-registry", "url": registry.url}, box, by=by
            )
            down = await operations.create_registry(
                session,
                {
                    "name": "down",
                    "type": "docker-registry",
                    "url": f"http://127.0.0.1:{free_port()}",
                },
                box,
                by=by,
            )
            schedule = await jobs.get_schedule(session, health.HEALTH_JOB)
            assert schedule is not None and schedule.cron == health.HEALTH_CRON
            ids = (up.id, down.id)
        context = JobContext(execution_id=0, parameters={}, sessions=sessions)
        await health.run_health_job(context, box)
    async with sessions() as session:
        healthy = await queries.get_registry(session, ids[0])
        unhealthy = await queries.get_registry(session, ids[1])
    assert healthy is not None and healthy.status == "healthy"
    assert unhealthy is not None and unhealthy.status == "unhealthy"
    assert unhealthy.status_message and unhealthy.checked_time is not None
    assert context.result["statuses"] == {str(ids[0]): "healthy", str(ids[1]): "unhealthy"}


async def test_delete_refused_while_a_replication_policy_uses_it(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """Every column declared ``ForeignKey("registries.id")`` counts (replication's source and
    destination): the endpoint stays, with Harbor's 412 text, until the policy is gone."""
    from harborlite.errors import PreconditionFailed
    from harborlite.replication.models import ReplicationPolicy

    box = SecretBox.for_data_dir(tmp_path)
    by = Actor("tester")
    body = {"name": "target", "type": "harbor", "url": "http://127.0.0.1:1"}
    async with sessions.begin() as session:
        row = await operations.create_registry(session, body, box, by=by)
        registry_id = row.id
        session.add(ReplicationPolicy(name="push-all", dest_registry_id=registry_id))
    with pytest.raises(PreconditionFailed) as caught:
        async with sessions.begin() as session:
            await operations.delete_registry(session, registry_id, by=by)
    assert caught.value.message == (
        f"the registry {registry_id} is referenced by replication policies, cannot delete it"
    )
    async with sessions.begin() as session:
        policy = (await session.execute(select(ReplicationPolicy))).scalar_one()
        await session.delete(policy)
    async with sessions.begin() as session:
        await operations.delete_registry(session, registry_id, by=by)
    async with sessions() as session:
        assert await queries.get_registry(session, registry_id) is None
