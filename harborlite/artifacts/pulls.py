"""Manifest pulls are counted off the hot path: queued, then written in batches.

A batch the database cannot take because it is down or busy (:func:`~harborlite.db.errors.
is_busy`) goes back to the queue and is written once the database is back, so the pulls served
during an outage (from the manifest cache, from storage) are audited too. What is queued lives in
memory only: a harborlite killed (SIGKILL, a crash) loses the pulls of its last half second.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.audit.events import PULL, AuditEvent, Origin, record_many
from harborlite.db.errors import is_busy
from harborlite.db.models import utcnow
from harborlite.events.bus import PULL_ARTIFACT, ArtifactEvent, EventBus
from harborlite.projects import queries as projects

log = logging.getLogger("harborlite.pulls")
MAX_QUEUED = 100_000  # pulls waiting to be written; beyond it they are counted, not kept
MAX_BACKOFF = 5.0  # seconds between attempts while the database is down


@dataclass(frozen=True)
class Pull:
    username: str
    repository: str
    reference: str
    origin: Origin
    when: datetime = field(default_factory=utcnow)


class PullRecorder:
    """Collects pulls and writes them (pull time, counts, audit) about every half second."""

    def __init__(self, sessions: async_sessionmaker[AsyncSession], interval: float = 0.5) -> None:
        self._sessions = sessions
        self._interval = interval
        self._queue: list[Pull] = []
        self._wakeup = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self.dropped = 0
        self.events: EventBus | None = None  # told of each pull once written (webhooks)

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pull-recorder")

    def add(self, pull: Pull) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self._dropped(1)
            return
        self._queue.append(pull)
        self._wakeup.set()

    def _dropped(self, count: int) -> None:
        before, self.dropped = self.dropped, self.dropped + count
        if before // 1000 != self.dropped // 1000 or before == 0:
            log.error("pull recording is behind: %d pulls not recorded", self.dropped)

    @property
    def queued(self) -> int:
        return len(self._queue)

    async def _run(self) -> None:
        backoff = self._interval
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(backoff)
            self._wakeup.clear()
            if await self.flush():
                backoff = self._interval
            else:  # the database is down: the batch waits in the queue, tried again later
                backoff = min(backoff * 2, MAX_BACKOFF)
                self._wakeup.set()

    async def flush(self) -> bool:
        """Write what is queued. False when the database could not take it now (the pulls
        stay queued); a batch it refuses for another reason is dropped after three tries."""
        batch, self._queue = self._queue, []
        if not batch:
            return True
        for attempt in range(3):
            try:
                async with self._sessions() as session:
                    await self._write(session, batch)
                    await session.commit()
                self._emit(batch)
                return True
            except asyncio.CancelledError:  # stopping: the batch is the last flush's
                self._queue = batch + self._queue
                raise
            except Exception as error:
                if is_busy(error):
                    self._requeue(batch, error)
                    return False
                if attempt == 2:
                    log.exception("could not record %d pulls", len(batch))
                    self._dropped(len(batch))
                else:
                    await asyncio.sleep(0.2 * (attempt + 1))
        return True

    def _emit(self, batch: list[Pull]) -> None:
        """A PULL_ARTIFACT event per pull written (the reference pulled: a tag, or a digest),
        handed over as one batch."""
        if self.events is None:
            return
        events = []
        for pull in batch:
            by_digest = ":" in pull.reference
            events.append(
                ArtifactEvent(
                    PULL_ARTIFACT,
                    pull.repository.split("/", 1)[0],
                    pull.repository,
                    pull.reference if by_digest else None,
                    None if by_digest else pull.reference,
                    pull.username,
                    occurred_at=pull.when,
                )
            )
        self.events.emit_all(events)

    def _requeue(self, batch: list[Pull], error: BaseException) -> None:
        room = max(0, MAX_QUEUED - len(self._queue))
        kept = batch[:room]
        self._queue = kept + self._queue
        if len(kept) < len(batch):
            self._dropped(len(batch) - len(kept))
        log.warning(
            "could not record %d pulls yet (%s): they wait for the database",
            len(kept),
            type(error).__name__,
        )

    async def _write(self, session: AsyncSession, batch: list[Pull]) -> None:
        """One audit entry a pull; the counters once per pulled reference, not once a pull."""
        names = {pull.repository.split("/", 1)[0] for pull in batch}
        project_ids = await projects.ids_by_names(session, names)
        counts: dict[tuple[str, str], tuple[int, datetime]] = {}
        events = []
        for pull in batch:
            key = (pull.repository, pull.reference)
            seen, last = counts.get(key, (0, pull.when))
            counts[key] = (seen + 1, max(last, pull.when))
            separator = "@" if ":" in pull.reference else ":"
            events.append(
                AuditEvent(
                    username=pull.username,
                    operation=PULL,
                    resource_type="artifact",
                    resource=f"{pull.repository}{separator}{pull.reference}",
                    origin=pull.origin,
                    project_id=project_ids.get(pull.repository.split("/", 1)[0]),
                    op_time=pull.when,
                )
            )
        for (repository, reference), (count, last) in counts.items():
            await artifacts.record_pulls(session, repository, reference, count, last)
        await record_many(session, events)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        if not await self.flush():
            log.error("harborlite stops with %d pulls not recorded", len(self._queue))
