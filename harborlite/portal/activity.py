"""Pushes and pulls per day for the dashboard chart, with finished days cached.

The audit log is append-only and entries carry the time they are written, so the counts of a day
that has ended do not change: they are computed once per viewer scope and day, and only today's
entries are counted on each request. The cache lives in the portal's app state.
"""

from __future__ import annotations

from collections import OrderedDict
from datetime import UTC, date, datetime, time

from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.portal.queries import daily_activity

ScopeKey = frozenset[int] | None
Counts = dict[tuple[date, str], int]


class ActivityCache:
    def __init__(self, max_entries: int = 512) -> None:
        self._max = max_entries
        self._entries: OrderedDict[tuple[ScopeKey, date, tuple[str, ...]], Counts] = OrderedDict()

    async def counts(
        self,
        session: AsyncSession,
        days: list[date],
        operations: tuple[str, ...],
        project_ids: set[int] | None,
    ) -> Counts:
        today = days[-1]
        scope: ScopeKey = None if project_ids is None else frozenset(project_ids)
        key = (scope, today, operations)
        past = self._entries.get(key)
        if past is None:
            since = datetime.combine(days[0], time(0), tzinfo=UTC)
            until = datetime.combine(today, time(0), tzinfo=UTC)
            past = await daily_activity(session, since, operations, project_ids, until=until)
            self._entries[key] = past
            while len(self._entries) > self._max:
                self._entries.popitem(last=False)
        else:
            self._entries.move_to_end(key)
        start_of_today = datetime.combine(today, time(0), tzinfo=UTC)
        current = await daily_activity(session, start_of_today, operations, project_ids)
        merged = dict(past)
        for (day, operation), n in current.items():
            if day >= today:
                merged[(day, operation)] = n
        return merged
