"""Events become deliveries, in-process on a real SQLite database: a pull recorded by the
PullRecorder becomes a PULL_ARTIFACT event with the tag pulled; only enabled policies that
want the event type get a task; retention, quota and scanning events carry Harbor's members."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts.pulls import Pull, PullRecorder
from harborlite.audit.events import Actor
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import JobExecution
from harborlite.events.bus import PULL_ARTIFACT, PUSH_ARTIFACT, ArtifactEvent, EventBus
from harborlite.projects import queries as projects
from harborlite.webhooks import operations
from harborlite.webhooks.enqueue import (
    queue_event,
    retention_event,
    scanning_event,
    webhook_subscriber,
)
from harborlite.webhooks.events import QUOTA_EXCEED, SCANNING_COMPLETED, TAG_RETENTION
from harborlite.webhooks.models import WebhookPolicy, WebhookTask
from harborlite.webhooks.policy import parse_policy

ADMIN = Actor("admin")
HOST = "registry.example:8080"


@pytest.fixture
async def sessions(tmp_path: Path) -> AsyncIterator[async_sessionmaker[AsyncSession]]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'index.db'}")
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()


async def _project_with_policy(
    sessions: async_sessionmaker[AsyncSession], events: list[str], *, enabled: bool = True
) -> int:
    async with sessions() as session:
        project = await projects.create_project(session, name="p", public=False, owner=None)
        body = {
            "name": "hook",
            "enabled": enabled,
            "event_types": events,
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/h"}],
        }
        row = await operations.create_policy(session, project, parse_policy(body), by=ADMIN)
        await session.commit()
        return row.id


async def _tasks(sessions: async_sessionmaker[AsyncSession]) -> list[WebhookTask]:
    async with sessions() as session:
        return list((await session.execute(select(WebhookTask))).scalars())


async def test_a_recorded_pull_becomes_a_pull_event_with_the_pulled_tag(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _project_with_policy(sessions, [PULL_ARTIFACT])
    bus = EventBus()
    bus.subscribe("webhooks", webhook_subscriber(sessions, f"http://{HOST}"))
    recorder = PullRecorder(sessions)
    recorder.events = bus
    recorder.add(Pull("alice", "p/app", "1.0", Actor("alice").origin))
    assert await recorder.flush()
    await bus.drain()
    (task,) = await _tasks(sessions)
    body = json.loads(task.payload)
    assert body["type"] == PULL_ARTIFACT
    assert body["operator"] == "alice"
    assert body["event_data"]["resources"] == [
        {"digest": "", "tag": "1.0", "resource_url": f"{HOST}/p/app:1.0"}  # not indexed here
    ]
    assert body["event_data"]["repository"]["repo_type"] == "private"


async def test_only_enabled_policies_wanting_the_event_get_a_delivery(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    policy_id = await _project_with_policy(sessions, [PUSH_ARTIFACT], enabled=False)
    event = ArtifactEvent(PUSH_ARTIFACT, "p", "p/app", "sha256:" + "a" * 64, "1", "admin")
    async with sessions() as session:
        assert await queue_event(session, HOST, event) == []
        policy = await session.get(WebhookPolicy, policy_id)
        assert policy is not None
        await operations.set_enabled(session, policy, True, by=ADMIN)
        pull = ArtifactEvent(PULL_ARTIFACT, "p", "p/app", None, "1", "admin")
        assert await queue_event(session, HOST, pull) == []  # not an event it wants
        started = await queue_event(session, HOST, event)
        assert len(started) == 1
        execution = await session.get(JobExecution, started[0])
        assert execution is not None
        assert (execution.kind, execution.status, execution.trigger) == (
            "WEBHOOK",
            "Pending",
            "EVENT",
        )
        await session.commit()
    assert len(await _tasks(sessions)) == 1


async def test_retention_quota_and_scan_events_carry_harbors_members(
    sessions: async_sessionmaker[AsyncSession],
) -> None:
    await _project_with_policy(sessions, [TAG_RETENTION, QUOTA_EXCEED, SCANNING_COMPLETED])
    deleted = {
        "type": "image",
        "status": "SUCCESS",
        "name_space": "p",
        "repository": "app",
        "tag": "old",
        "digest": "sha256:" + "b" * 64,
    }
    retention = {
        "total": 3,
        "retained": 2,
        "hook_status": "SUCCESS",
        "deleted_artifacts": [deleted],
    }
    quota = ArtifactEvent(
        QUOTA_EXCEED,
        "p",
        "p/app",
        "sha256:" + "c" * 64,
        "2.0",
        "",
        details={"custom_attributes": {"Details": "adding 1.0 MiB of storage ..."}},
    )
    scan = scanning_event(
        SCANNING_COMPLETED, "p", "p/app", "sha256:" + "d" * 64, "3.0", "admin", {"x": 1}
    )
    async with sessions() as session:
        for event in (retention_event("p", "system", retention), quota, scan):
            assert await queue_event(session, HOST, event)
        await session.commit()
    bodies = {t.event_type: json.loads(t.payload) for t in await _tasks(sessions)}
    kept = bodies[TAG_RETENTION]["event_data"]
    assert kept == {"resources": [], "retention": {"project_name": "p", **retention}}
    exceeded = bodies[QUOTA_EXCEED]["event_data"]
    assert exceeded["custom_attributes"] == {"Details": "adding 1.0 MiB of storage ..."}
    assert exceeded["resources"][0]["tag"] == "2.0"
    scanned = bodies[SCANNING_COMPLETED]["event_data"]
    assert scanned["scan"] == {"scan_type": "vulnerability"}
    assert scanned["resources"][0]["scan_overview"] == {"x": 1}


async def test_pulls_no_policy_wants_cost_no_query_and_a_new_policy_is_heard_at_once(
    sessions: async_sessionmaker[AsyncSession], tmp_path: Path
) -> None:
    """2,000 pulls of a project without a pull policy: one query (the directory's load), not
    two per pull; a policy created afterwards gets the very next pull."""
    async with sessions() as session:
        await projects.create_project(session, name="p", public=False, owner=None)
        await session.commit()
    statements: list[str] = []
    engine = sessions.kw["bind"]

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        statements.append(statement)

    sa_event.listen(engine.sync_engine, "before_cursor_execute", count)
    bus = EventBus()
    bus.subscribe("webhooks", webhook_subscriber(sessions, f"http://{HOST}"))
    for number in range(2000):
        bus.emit(ArtifactEvent(PULL_ARTIFACT, "p", "p/app", None, str(number), "alice"))
    await bus.drain()
    assert len(statements) == 1, statements[:5]
    assert await _tasks(sessions) == []

    async with sessions() as session:
        project = await projects.get_project_by_name(session, "p")
        assert project is not None
        body = {
            "name": "pulls",
            "event_types": [PULL_ARTIFACT],
            "targets": [{"type": "http", "address": "http://127.0.0.1:9/h"}],
        }
        await operations.create_policy(session, project, parse_policy(body), by=ADMIN)
        await session.commit()
    bus.emit(ArtifactEvent(PULL_ARTIFACT, "p", "p/app", None, "after", "alice"))
    await bus.drain()
    (task,) = await _tasks(sessions)
    assert json.loads(task.payload)["event_data"]["resources"][0]["tag"] == "after"
