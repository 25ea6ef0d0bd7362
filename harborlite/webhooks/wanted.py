"""Which event types each project's enabled webhook policies want, held in memory.

Every pull is an event, thousands a second: asking the database about each one (the project,
its policies) took the event loop from the requests (a bench window of 16 pullers saw nothing
answered for a second). This directory (a :class:`~harborlite.events.directory.Directory`)
answers "does anything in project P want kind K" without the database; only a yes goes on to
:func:`~harborlite.webhooks.enqueue.queue_event`, which decides from the database. A policy
change committed in this process reloads it at its next use; another replica's is seen within
:data:`~harborlite.events.directory.TTL` seconds.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import Project
from harborlite.events.directory import Directory
from harborlite.webhooks.models import WebhookPolicy


async def _wanted_kinds(session: AsyncSession) -> dict[str, frozenset[str]]:
    rows = await session.execute(
        select(Project.name, WebhookPolicy.event_types)
        .join(Project, Project.id == WebhookPolicy.project_id)
        .where(WebhookPolicy.enabled.is_(True))
    )
    found: dict[str, set[str]] = {}
    for name, kinds in rows.all():
        found.setdefault(name, set()).update(kinds or ())
    return {name: frozenset(kinds) for name, kinds in found.items()}


class WantedKinds:
    def __init__(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        # a project's deletion takes its policies with it: a stale yes, one query
        self._directory = Directory("webhook policies", sessions, _wanted_kinds, (WebhookPolicy,))

    async def kinds(self, project: str) -> frozenset[str]:
        return (await self._directory.current()).get(project, frozenset())
