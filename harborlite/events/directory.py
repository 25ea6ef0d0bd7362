"""What subscribers ask about every event (does a policy want it?), held in memory.

Every push and pull is an event; asking the database whether anything wants each one (a
project's webhook policies, its ``auto_scan``, the replication policies) costs a transaction
per event and per subscriber. A :class:`Directory` loads the answer once and keeps it: it is a
pre-filter, so a stale "yes" costs the one query the subscriber would have made anyway, and a
stale "no" would lose an event. Hence:

- a change committed in this process to a model a directory depends on (an ORM object of it
  added, changed or deleted in a session that then commits) reloads that directory at its next
  use: the flush notes the models touched, the commit bumps their generation;
- a change made by another replica is seen within :data:`TTL` seconds;
- a load that fails (the database is away) keeps what was known for :data:`RETRY` seconds.

Only ORM objects are noticed: a Core ``UPDATE`` is not (the ones harborlite makes on these
models are row locks that change nothing); code that changes such rows otherwise calls
:func:`changed`.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from itertools import chain
from typing import Any, Generic, TypeVar

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

log = logging.getLogger("harborlite")

TTL = 2.0  # seconds a loaded directory is trusted (another replica's change shows by then)
RETRY = 1.0  # after a failed reload, what was known is kept this long before trying again
_TOUCHED = "harborlite.directory.touched"  # session.info key: watched models flushed

T = TypeVar("T")
_generations: dict[type[Any], int] = {}  # watched model -> changes committed in this process


def changed(*models: type[Any]) -> None:
    """Rows of ``models`` changed (committed): every directory depending on one reloads."""
    for model in models:
        _generations[model] = _generations.get(model, 0) + 1


def generation(models: tuple[type[Any], ...]) -> int:
    """A number that grows whenever a change to one of ``models`` is committed here."""
    return sum(_generations.get(model, 0) for model in models)


def watch(models: tuple[type[Any], ...]) -> None:
    """Count the commits that change ``models`` from now on (a directory's constructor does)."""
    for model in models:
        _generations.setdefault(model, 0)


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    """The watched models this flush wrote (the collections still hold what it flushed)."""
    touched: set[type[Any]] | None = None
    for instance in chain(session.new, session.dirty, session.deleted):
        model = type(instance)
        if model in _generations:
            if touched is None:
                touched = session.info.setdefault(_TOUCHED, set())
            touched.add(model)


@event.listens_for(Session, "after_commit")
def _bump_committed(session: Session) -> None:
    touched: set[type[Any]] | None = session.info.pop(_TOUCHED, None)
    if touched:
        changed(*touched)


class Directory(Generic[T]):
    """``load(session)``'s answer, reloaded when a change to ``models`` was committed in this
    process and at least every ``ttl`` seconds; one load for every caller waiting on it."""

    def __init__(
        self,
        name: str,
        sessions: async_sessionmaker[AsyncSession],
        load: Callable[[AsyncSession], Awaitable[T]],
        models: tuple[type[Any], ...],
        ttl: float = TTL,
    ) -> None:
        watch(models)
        self.name = name
        self._sessions = sessions
        self._load = load
        self._models = models
        self._ttl = ttl
        self._loaded: tuple[T] | None = None  # the last answer, once there is one
        self._expires = 0.0
        self._generation = -1
        self._lock = asyncio.Lock()

    def _fresh(self) -> bool:
        return self._generation == generation(self._models) and time.monotonic() < self._expires

    async def current(self) -> T:
        if not self._fresh():
            async with self._lock:
                if not self._fresh():
                    await self._reload()
        assert self._loaded is not None  # a first load that fails raises
        return self._loaded[0]

    async def _reload(self) -> None:
        # the generation is taken before reading: a change committed during the load makes
        # the next use load again
        seen, started = generation(self._models), time.monotonic()
        try:
            async with self._sessions() as session:
                value = await self._load(session)
        except Exception as error:  # the database is away: keep what we knew, retry soon
            if self._loaded is None:
                raise
            log.warning("%s not reloaded (%s)", self.name, type(error).__name__)
            self._generation, self._expires = seen, started + RETRY
            return
        self._loaded = (value,)
        self._generation = seen
        self._expires = started + self._ttl
