"""Each project's enabled rules, kept in memory for the ``/v2/`` checks.

A push by tag and a delete by digest ask whether a rule protects the tag. The rules change
rarely, so they are read once per project and kept, compiled, for :data:`TTL_SECONDS`: a push
of a tag no rule selects (and every push to a project without rules) costs no database query.
A change made by this process (:mod:`harborlite.immutability.operations` calls
:func:`note_change`) drops every kept rule list at once, and again when its transaction
commits; a change made by another replica (or the CLI) is seen within :data:`TTL_SECONDS`.

One :class:`RuleCache` per app, found by its session factory (:func:`rule_cache`), so two apps
in one process (as in tests) never share one.
"""

from __future__ import annotations

import time
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.immutability import queries
from harborlite.immutability.rules import Matcher

TTL_SECONDS = 5.0
MAX_ENTRIES = 10_000


class _Changes:
    """This process's count of committed (or about to be committed) rule changes."""

    generation = 0

    @classmethod
    def bump(cls, *_: Any) -> None:
        cls.generation += 1


def note_change(session: AsyncSession) -> None:
    """``session`` changed rules: kept rule lists are dropped now (so nothing read before the
    change stays) and once more when it commits (so nothing read meanwhile stays either)."""
    _Changes.bump()
    event.listen(session.sync_session, "after_commit", _Changes.bump, once=True)


class RuleCache:
    def __init__(self, sessions: async_sessionmaker[AsyncSession], ttl: float = TTL_SECONDS):
        self.sessions = sessions
        self.ttl = ttl
        self._entries: dict[str, tuple[float, int, list[Matcher]]] = {}

    async def matchers(self, project: str) -> list[Matcher]:
        """The enabled rules of the project named ``project`` (none when there is no such
        project), from memory when they were read less than ``ttl`` seconds ago."""
        now = time.monotonic()
        entry = self._entries.get(project)
        if entry is not None and entry[0] > now and entry[1] == _Changes.generation:
            return entry[2]
        generation = _Changes.generation  # before the read: a change meanwhile makes it stale
        async with self.sessions() as session:
            _, matchers = await queries.enabled_matchers_by_name(session, project)
        if self.ttl > 0:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[project] = (now + self.ttl, generation, matchers)
        return matchers


_CACHES: WeakKeyDictionary[async_sessionmaker[AsyncSession], RuleCache] = WeakKeyDictionary()


def rule_cache(sessions: async_sessionmaker[AsyncSession]) -> RuleCache:
    """The cache of the app whose session factory is ``sessions``."""
    cache = _CACHES.get(sessions)
    if cache is None:
        cache = _CACHES[sessions] = RuleCache(sessions)
    return cache
