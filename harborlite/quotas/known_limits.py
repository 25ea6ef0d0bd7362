"""Which projects have no storage limit, remembered for a second.

Every upload start and manifest push asks the project's limit; for an unlimited project
(most of them) the answer is always "go on", yet asking cost a transaction per request. The
answer "project P (id N) is unlimited" is kept for :data:`TTL` seconds, and forgotten at once
when a quota or a project is changed through this process (a committed ORM change, see
:mod:`harborlite.events.directory`); a limit set through another replica applies here within
:data:`TTL`. Only "unlimited" is kept: a limited project is checked against its usage every
time, in the transaction that records what it checks.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
from weakref import WeakKeyDictionary

from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.models import Project
from harborlite.events.directory import generation, watch
from harborlite.quotas.models import UNLIMITED, Quota

TTL = 1.0
_MODELS: tuple[type[Any], ...] = (Quota, Project)
watch(_MODELS)


@dataclass(frozen=True)
class _Known:
    project_id: int
    expires: float
    generation: int


class KnownLimits:
    def __init__(self) -> None:
        self._unlimited: dict[str, _Known] = {}

    def reading(self) -> tuple[int, float]:
        """Taken before a read whose answer :meth:`learnt` is told."""
        return generation(_MODELS), time.monotonic()

    def learnt(
        self, name: str, found: tuple[int, int | None] | None, at: tuple[int, float]
    ) -> None:
        """``found`` (project id, hard limit) was read for project ``name``, starting ``at``."""
        seen, started = at
        if found is not None and found[1] == UNLIMITED and seen == generation(_MODELS):
            self._unlimited[name] = _Known(found[0], started + TTL, seen)
        else:
            self._unlimited.pop(name, None)

    def unlimited(self, name: str) -> int | None:
        """The project's id when it was read unlimited within the last second; else None."""
        known = self._unlimited.get(name)
        if known is None:
            return None
        if known.generation != generation(_MODELS) or time.monotonic() >= known.expires:
            del self._unlimited[name]
            return None
        return known.project_id


_KNOWN: WeakKeyDictionary[async_sessionmaker[AsyncSession], KnownLimits] = WeakKeyDictionary()


def known_limits(sessions: async_sessionmaker[AsyncSession]) -> KnownLimits:
    """The memory of the app whose session factory is ``sessions``."""
    known = _KNOWN.get(sessions)
    if known is None:
        known = _KNOWN[sessions] = KnownLimits()
    return known
