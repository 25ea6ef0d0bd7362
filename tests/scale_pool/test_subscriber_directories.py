"""The event subscribers (scan on push, webhooks, replication) know from memory whether
anything wants an event (:class:`harborlite.events.directory.Directory`): an event nothing
wants costs no query; a change committed in this process (a project's ``auto_scan``, a webhook
policy, a replication policy) is heard by the next event; a directory whose reload fails keeps
what it knew.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import Project
from harborlite.events.bus import PUSH_ARTIFACT, ArtifactEvent, Subscriber
from harborlite.events.directory import Directory
from harborlite.projects import queries as projects
from harborlite.replication.events import replication_subscriber
from harborlite.replication.models import ReplicationPolicy
from harborlite.scanning.on_push import scan_on_push
from harborlite.webhooks.enqueue import webhook_subscriber
from harborlite.webhooks.models import WebhookPolicy

Sessions = async_sessionmaker[AsyncSession]
PROJECT = "quiet"


class Counted:
    def __init__(self, sessions: Sessions) -> None:
        self.sessions = sessions
        self.statements: list[str] = []
        engine: Any = sessions.kw["bind"]
        event.listen(engine.sync_engine, "before_cursor_execute", self._seen)

    def _seen(self, _conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        self.statements.append(statement)

    async def asked(self, subscriber: Subscriber, pushed: ArtifactEvent) -> list[str]:
        """The statements ``subscriber`` sent for ``pushed``."""
        before = len(self.statements)
        await subscriber(pushed)
        return self.statements[before:]


@pytest.fixture
async def counted(tmp_path: Path) -> AsyncIterator[Counted]:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'events.db'}")
    await migrate(engine)
    sessions = make_sessionmaker(engine)
    async with sessions() as session:
        session.add(Project(name=PROJECT, project_metadata={"public": "false"}))
        await session.commit()
    try:
        yield Counted(sessions)
    finally:
        await engine.dispose()


def pushed(tag: str = "v1") -> ArtifactEvent:
    return ArtifactEvent(PUSH_ARTIFACT, PROJECT, f"{PROJECT}/app", "sha256:" + "a" * 64, tag, "u")


def subscribers(sessions: Sessions) -> dict[str, Subscriber]:
    return {
        "scan": scan_on_push(sessions),
        "webhooks": webhook_subscriber(sessions, "http://harborlite.test"),
        "replication": replication_subscriber(sessions),
    }


async def test_an_event_nothing_wants_costs_no_query(counted: Counted) -> None:
    for name, subscriber in subscribers(counted.sessions).items():
        assert await counted.asked(subscriber, pushed()), name  # the first loads the directory
        for n in range(3):
            assert await counted.asked(subscriber, pushed(f"t{n}")) == [], name


async def test_a_change_committed_here_is_heard_by_the_next_event(counted: Counted) -> None:
    heard = subscribers(counted.sessions)
    for subscriber in heard.values():
        await subscriber(pushed())
    async with counted.sessions() as session:
        project = await projects.get_project_by_name(session, PROJECT)
        assert project is not None
        await projects.set_metadata(session, project, {"auto_scan": "true"})
        session.add(
            WebhookPolicy(
                project_id=project.id,
                name="pushes",
                event_types=[PUSH_ARTIFACT],
                targets=[{"type": "http", "address": "http://127.0.0.1:9/"}],
                secret="s",
            )
        )
        session.add(
            ReplicationPolicy(
                name="everything",
                filters=[{"type": "name", "value": f"{PROJECT}/**"}],
                trigger={"type": "event_based"},
            )
        )
        await session.commit()
    scanned = await counted.asked(heard["scan"], pushed("after"))
    assert any("JOIN repositories" in s for s in scanned), scanned
    delivered = await counted.asked(heard["webhooks"], pushed("after"))
    assert any("FROM webhook_policies" in s and "project_id" in s for s in delivered), delivered
    replicated = await counted.asked(heard["replication"], pushed("after"))
    assert any("FROM replication_policies" in s for s in replicated), replicated


async def test_a_policy_for_other_repositories_costs_no_query(counted: Counted) -> None:
    async with counted.sessions() as session:
        session.add(
            ReplicationPolicy(
                name="others",
                filters=[{"type": "name", "value": "elsewhere/**"}],
                trigger={"type": "event_based"},
            )
        )
        await session.commit()
    replication = replication_subscriber(counted.sessions)
    await replication(pushed())
    assert await counted.asked(replication, pushed("again")) == []


async def test_a_failed_reload_keeps_what_was_known(counted: Counted) -> None:
    answers: list[Any] = [frozenset({"x"})]

    async def load(session: AsyncSession) -> frozenset[str]:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return frozenset(answer)

    known = Directory("test", counted.sessions, load, (Project,), ttl=0.0)
    assert await known.current() == {"x"}
    answers.append(RuntimeError("the database is away"))
    assert await known.current() == {"x"}  # kept, retried later
    empty = Directory("empty", counted.sessions, load, (Project,))
    answers.append(RuntimeError("away from the start"))
    with pytest.raises(RuntimeError):  # nothing known yet: the caller hears it
        await empty.current()
