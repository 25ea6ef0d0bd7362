"""Each repository's tag names, held in memory in the registry's order, for ``/v2/.../tags/list``.

A page of the tag list is then a ``bisect`` and a slice of a sorted tuple, and the whole list a
``bytes`` encoded once, instead of a query per page. What keeps the copy right:

- a change committed **in this process** shows in the very next list: a session that flushes a
  :class:`~harborlite.db.models.Tag` added, deleted, renamed or moved notes its repository, and
  so does a deleted :class:`~harborlite.db.models.Artifact` (its tags go with it by the
  foreign key's cascade); the commit then bumps that repository's generation, and a copy
  loaded under an older generation is loaded again. A deleted
  :class:`~harborlite.db.models.Repository` or :class:`~harborlite.db.models.Project`, and a
  Core ``INSERT``/``UPDATE``/``DELETE`` statement on the tags, or a ``DELETE`` on the artifacts,
  repositories or projects, run through a session (its rows are not known), bump every
  repository's generation. Code that changes tags otherwise (a raw connection) calls
  :func:`changed`. The bump happens after the database's commit (``after_commit``): a load that
  read before it is loaded again, and a load that starts after it sees the change.
- a change made by **another replica** (or another process on the same database) shows within
  :data:`TTL` seconds (bounded staleness: a copy is trusted that long after it was read).
  No single row that every tag writer already updates exists to check per request (a tag's
  delete leaves its repository's row alone), so a per-request check would cost a count over the
  repository's tags, which is what this module exists to avoid.
- memory is bounded: at most :data:`MAX_NAMES` names over every repository held, the least
  recently listed repository dropped first (a repository of 100,000 tags fits many times).

Unknown repositories are not held (each such request reads the index, as before).
"""

from __future__ import annotations

import asyncio
import json
import time
from bisect import bisect_right
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass, field
from itertools import chain
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event, inspect, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from harborlite.db.models import Artifact, Project, Repository, Tag

TTL = 2.0  # seconds a copy is trusted: another replica's change shows by then
MAX_NAMES = 1_000_000  # names held over every repository (about 100 MiB at worst)
_TOUCHED = "harborlite.tag_names.touched"  # session.info: repository ids (or EVERY) flushed
EVERY = -1  # "every repository" in a touched set
_TABLES_DELETED = frozenset({"tags", "artifacts", "repositories", "projects"})

_generations: dict[int, int] = {}  # repository id -> changes committed in this process
_everything = [0]  # changes committed here to rows of unknown repositories
_commits = [0]  # every change committed here, to any repository


def changed(repository_ids: Iterable[int] | None = None) -> None:
    """Tags of ``repository_ids`` (None: of any repository) changed, committed."""
    _commits[0] += 1
    if repository_ids is None:
        _everything[0] += 1
        return
    for repository_id in repository_ids:
        _generations[repository_id] = _generations.get(repository_id, 0) + 1


def generation(repository_id: int) -> tuple[int, int]:
    return (_everything[0], _generations.get(repository_id, 0))


def _touched(session: Session) -> set[int]:
    touched: set[int] = session.info.setdefault(_TOUCHED, set())
    return touched


def _repository_ids_of(instance: Any, attribute: str) -> set[int]:
    """The values ``attribute`` has and had in this flush; {EVERY} when not loaded."""
    state = inspect(instance)
    if attribute not in state.dict:
        return {EVERY}
    history = state.attrs[attribute].history
    return {int(v) for v in chain(history.added, history.unchanged, history.deleted) if v}


@event.listens_for(Session, "after_flush")
def _note_flushed(session: Session, _context: Any) -> None:
    deleted = session.deleted
    for instance in chain(session.new, session.dirty, deleted):
        if isinstance(instance, Tag):
            if instance in session.dirty and instance not in deleted:
                state = inspect(instance)
                if not any(
                    state.attrs[name].history.has_changes() for name in ("name", "repository_id")
                ):
                    continue  # a pull time: the names stay
            _touched(session).update(_repository_ids_of(instance, "repository_id"))
        elif isinstance(instance, Artifact) and instance in deleted:
            _touched(session).update(_repository_ids_of(instance, "repository_id"))
        elif isinstance(instance, (Repository, Project)) and instance in deleted:
            _touched(session).add(EVERY)


@event.listens_for(Session, "do_orm_execute")
def _note_statement(state: ORMExecuteState) -> None:
    if not (state.is_insert or state.is_update or state.is_delete):
        return
    table = getattr(getattr(state.statement, "table", None), "name", None)
    if table == "tags" or (state.is_delete and table in _TABLES_DELETED):
        _touched(state.session).add(EVERY)


@event.listens_for(Session, "after_commit")
def _bump_committed(session: Session) -> None:
    touched: set[int] | None = session.info.pop(_TOUCHED, None)
    if touched:
        if EVERY in touched:
            changed(None)
        changed(touched - {EVERY})


@dataclass
class TagNames:
    """One repository's tag names, sorted by code point (= UTF-8 bytes, the registry's order)."""

    repository_id: int
    names: tuple[str, ...]
    generation: tuple[int, int]
    expires: float
    _whole: bytes | None = field(default=None, repr=False)

    def after(self, last: str | None, limit: int | None) -> tuple[list[str], bool]:
        """At most ``limit`` names after ``last``, and whether more follow."""
        start = bisect_right(self.names, last) if last else 0
        if limit is None:
            return list(self.names[start:]), False
        page = list(self.names[start : start + limit])
        return page, start + limit < len(self.names)

    def whole_json(self) -> bytes:
        """The JSON array of every name, encoded once."""
        if self._whole is None:
            self._whole = json.dumps(list(self.names)).encode()
        return self._whole


class TagNameCache:
    """Repositories' :class:`TagNames` by repository name, loaded on use, least recently used
    dropped beyond ``max_names``."""

    def __init__(
        self,
        sessions: async_sessionmaker[AsyncSession],
        *,
        ttl: float = TTL,
        max_names: int = MAX_NAMES,
    ) -> None:
        self._sessions = sessions
        self._ttl = ttl
        self._max_names = max_names
        self._held: OrderedDict[str, TagNames] = OrderedDict()
        self._total = 0
        self._loading: dict[str, asyncio.Lock] = {}  # one load a repository at a time

    def _fresh(self, name: str) -> TagNames | None:
        held = self._held.get(name)
        if held is None:
            return None
        if held.generation != generation(held.repository_id) or time.monotonic() >= held.expires:
            return None
        self._held.move_to_end(name)
        return held

    async def get(self, repository_name: str) -> TagNames | None:
        """The repository's names; None when it is not in the index."""
        held = self._fresh(repository_name)
        if held is not None:
            return held
        lock = self._loading.setdefault(repository_name, asyncio.Lock())
        try:
            async with lock:  # a burst of lists of one repository loads it once
                held = self._fresh(repository_name)
                if held is None:
                    before = self._held.get(repository_name)  # an expired or stale copy
                    known = None if before is None else before.repository_id
                    held = await self._load(repository_name, known)
                    self._forget(repository_name)
                    if held is not None and len(held.names) <= self._max_names:
                        self._keep(repository_name, held)
        finally:
            if not lock.locked() and self._loading.get(repository_name) is lock:
                del self._loading[repository_name]  # nobody else waits on it
        return held

    def _forget(self, name: str) -> None:
        gone = self._held.pop(name, None)
        if gone is not None:
            self._total -= len(gone.names)

    def _keep(self, name: str, names: TagNames) -> None:
        self._held[name] = names
        self._total += len(names.names)
        while self._total > self._max_names:
            _, dropped = self._held.popitem(last=False)
            self._total -= len(dropped.names)

    async def _load(self, repository_name: str, known_id: int | None = None) -> TagNames | None:
        """``known_id``: the repository's id as a copy held before said, whose generation is
        then read before the database is (a commit to another repository meanwhile does not
        make the copy untrusted; without it, any commit meanwhile does)."""
        started, commits = time.monotonic(), _commits[0]
        known = None if known_id is None else generation(known_id)
        async with self._sessions() as session:
            found = await session.execute(
                select(Repository.id).where(Repository.name == repository_name)
            )
            repository_id = found.scalar_one_or_none()
            if repository_id is None:
                return None
            tags = Tag.__table__.c  # Core: names, no ORM rows
            connection = await session.connection()
            rows = await connection.execute(
                select(tags.name).where(tags.repository_id == repository_id)
            )
            names = tuple(sorted(rows.scalars()))  # code point order: no collation to trust
        # a change committed while this read (whatever snapshot the database gave it): the
        # names answer this request, and the next one reads again
        now = generation(repository_id)
        quiet = now == known if repository_id == known_id else _commits[0] == commits
        seen = now if quiet else (-1, -1)
        return TagNames(repository_id, names, seen, started + self._ttl)

    @property
    def held_names(self) -> int:
        return self._total


_caches: WeakKeyDictionary[async_sessionmaker[AsyncSession], TagNameCache] = WeakKeyDictionary()


def cache_for(sessions: async_sessionmaker[AsyncSession]) -> TagNameCache:
    """The cache of the database ``sessions`` open (one per app)."""
    cache = _caches.get(sessions)
    if cache is None:
        cache = _caches[sessions] = TagNameCache(sessions)
    return cache
