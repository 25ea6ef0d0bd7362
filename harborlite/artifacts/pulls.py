"""Manifest pulls are counted off the hot path: queued, then written in batches."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.artifacts import queries as artifacts
from harborlite.audit.events import PULL, AuditEvent, Origin, record_many
from harborlite.db.models import utcnow
from harborlite.projects import queries as projects

log = logging.getLogger("harborlite.pulls")
MAX_QUEUED = 100_000  # pulls waiting to be written; beyond it they are counted, not kept


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

    def start(self) -> None:
        self._task = asyncio.create_task(self._run(), name="pull-recorder")

    def add(self, pull: Pull) -> None:
        if len(self._queue) >= MAX_QUEUED:
            self.dropped += 1
            if self.dropped % 1000 == 1:
                log.error("pull recording is behind: %d pulls not recorded", self.dropped)
            return
        self._queue.append(pull)
        self._wakeup.set()

    async def _run(self) -> None:
        while True:
            await self._wakeup.wait()
            await asyncio.sleep(self._interval)
            self._wakeup.clear()
            await self.flush()

    async def flush(self) -> None:
        batch, self._queue = self._queue, []
        if not batch:
            return
        for attempt in range(3):
            try:
                async with self._sessions() as session:
                    await self._write(session, batch)
                    await session.commit()
                return
            except Exception:
                if attempt == 2:
                    log.exception("could not record %d pulls", len(batch))
                else:
                    await asyncio.sleep(0.2 * (attempt + 1))

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
        await self.flush()
