"""Who hears artifact events: composed here (like the job handlers), subscribed by the app."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.events.bus import (
    DELETE_ARTIFACT,
    DELETE_TAG,
    PUSH_ARTIFACT,
    Subscriber,
)
from harborlite.replication.events import replication_subscriber
from harborlite.scanning.on_push import scan_on_push
from harborlite.settings import Settings
from harborlite.webhooks.enqueue import webhook_subscriber


def event_subscribers(
    settings: Settings, sessions: async_sessionmaker[AsyncSession]
) -> list[tuple[str, Subscriber, frozenset[str] | None]]:
    """Every subscriber of this process, by name (each module that reacts to pushes, pulls and
    deletes adds its own here: webhooks, replication, scan on push), with the kinds it hears
    (None: every kind; a pull, thousands a second, starts no task where it is not heard)."""
    subscribers: list[tuple[str, Subscriber, frozenset[str] | None]] = []
    subscribers.append(("scan-on-push", scan_on_push(sessions), frozenset({PUSH_ARTIFACT})))
    subscribers.append(("webhooks", webhook_subscriber(sessions, settings.external_url), None))
    changes = frozenset({PUSH_ARTIFACT, DELETE_ARTIFACT, DELETE_TAG})
    subscribers.append(("replication", replication_subscriber(sessions), changes))
    return subscribers
