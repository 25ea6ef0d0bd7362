"""An in-process event bus: a surface or domain emits an :class:`ArtifactEvent` after its change
is committed; each subscriber runs as a task of its own, so a slow or failing subscriber (a
webhook target that hangs) never slows the request that emitted it.

Events are facts already recorded (the index and the audit log hold them): a subscriber that
needs durability (a webhook delivery, a replication) turns the event into a background job.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

log = logging.getLogger("harborlite")

# Harbor's event types (webhook policy ``event_types``), and harborlite's own beyond them.
PUSH_ARTIFACT = "PUSH_ARTIFACT"
PULL_ARTIFACT = "PULL_ARTIFACT"
DELETE_ARTIFACT = "DELETE_ARTIFACT"
DELETE_TAG = "DELETE_TAG"  # beyond Harbor
DELETE_PROJECT = "DELETE_PROJECT"  # beyond Harbor


def _now() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True)
class ArtifactEvent:
    kind: str  # one of the constants above (or another module's, e.g. QUOTA_EXCEED)
    project: str  # the project's name
    repository: str  # the repository's full name, with its project (``library/nginx``)
    digest: str | None  # the manifest's digest (None for a tag or project event without one)
    tag: str | None  # the tag pushed, pulled or deleted, if any
    operator: str  # who did it (a username, ``robot$...``, or ``system``)
    media_type: str | None = None
    size: int | None = None
    occurred_at: datetime = field(default_factory=_now)
    details: dict[str, object] = field(default_factory=dict)  # what a kind adds


Subscriber = Callable[[ArtifactEvent], Awaitable[None]]


class EventBus:
    """Subscribers are called for every event, each in its own task; exceptions are logged."""

    def __init__(self) -> None:
        self._subscribers: list[tuple[str, Subscriber, frozenset[str] | None]] = []
        self._running: set[asyncio.Task[None]] = set()

    def subscribe(
        self, name: str, subscriber: Subscriber, kinds: frozenset[str] | None = None
    ) -> None:
        """``kinds``: the event kinds it hears (None: all); the others never start a task."""
        self._subscribers.append((name, subscriber, kinds))

    def emit(self, event: ArtifactEvent) -> None:
        """Hand ``event`` to every subscriber; returns at once (needs a running loop)."""
        self.emit_all([event])

    def emit_all(self, events: list[ArtifactEvent]) -> None:
        """Hand each of ``events`` (a batch: the pulls of half a second) to every subscriber
        that hears its kind: one task per subscriber for the whole batch, which hears them in
        order (a thousand pulls start a task per subscriber, not a thousand)."""
        for name, subscriber, kinds in self._subscribers:
            heard = [e for e in events if kinds is None or e.kind in kinds]
            if not heard:
                continue
            called = self._call_all(name, subscriber, heard)
            task = asyncio.create_task(called, name=f"event-{name}")
            self._running.add(task)
            task.add_done_callback(self._running.discard)

    async def _call_all(
        self, name: str, subscriber: Subscriber, events: list[ArtifactEvent]
    ) -> None:
        for event in events:
            await self._call(name, subscriber, event)

    async def _call(self, name: str, subscriber: Subscriber, event: ArtifactEvent) -> None:
        try:
            await subscriber(event)
        except Exception:
            log.exception("event subscriber %s failed on %s %s", name, event.kind, event.repository)

    async def drain(self, timeout: float = 5.0) -> None:
        """Wait (a bounded time) for the subscribers still running; for shutdown and tests."""
        if self._running:
            await asyncio.wait(set(self._running), timeout=timeout)
