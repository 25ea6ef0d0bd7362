"""Which event types each project's enabled webhook policies want, held in memory.

Every pull is an event, thousands a second: asking the database about each one (the project,
its policies) took the event loop from the requests (a bench window of 16 pullers saw nothing
answered for a second). This directory answers "does anything in project P want kind K" without
the database; only a yes goes on to :func:`~harborlite.webhooks.enqueue.queue_event`, which
decides from the database. It is a pre-filter: a stale yes costs one query, a stale no would
lose an event, so a policy change in this process (:func:`changed`) reloads it at once, and a
change made by another replica is seen within :data:`TTL` seconds.
"""

from __future__ import annotations

import asyncio
import logging
import time

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import Project
from harborlite.webhooks.models import WebhookPolicy

log = logging.getLogger("harborlite.webhooks")
TTL = 2.0  # seconds a loaded directory is trusted (another replica's change shows by then)
SETTLING = 1.0  # after a change, loads are trusted briefly: its transaction may not be committed
_generation = 0  # bumped by every policy change in this process
_changed_at = 0.0  # when (monotonic) the last one was


def changed() -> None:
    """A webhook policy was created, changed or deleted here: directories reload."""
    global _generation, _changed_at
    _generation += 1
    _changed_at = time.monotonic()


class WantedKinds:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._sessions = sessions
        self._by_project: dict[str, frozenset[str]] = {}
        self._expires = 0.0
        self._generation = -1
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._generation == _generation and time.monotonic() < self._expires

    async def kinds(self, project: str) -> frozenset[str]:
        if not self._fresh():
            async with self._lock:  # one load for every event waiting on it
                if not self._fresh():
                    await self._load()
        return self._by_project.get(project, frozenset())

    async def _load(self) -> None:
        generation, started = _generation, time.monotonic()
        try:
            async with self._sessions() as session:
                rows = await session.execute(
                    select(Project.name, WebhookPolicy.event_types)
                    .join(Project, Project.id == WebhookPolicy.project_id)
                    .where(WebhookPolicy.enabled.is_(True))
                )
                found: dict[str, set[str]] = {}
                for name, kinds in rows.all():
                    found.setdefault(name, set()).update(kinds or ())
        except Exception as error:  # the database is away: keep what we knew, retry soon
            if self._expires:
                log.warning("webhook policies not reloaded (%s)", type(error).__name__)
                self._expires = started + SETTLING
                return
            raise
        self._by_project = {name: frozenset(kinds) for name, kinds in found.items()}
        self._generation = generation
        settling = started - _changed_at < SETTLING
        self._expires = started + (0.1 if settling else TTL)
