"""Concurrent reads of one key share one call: the thundering herd of an expiring cache.

The ``/v2/`` gateway keeps each project's settings (proxy binding, signed-only and
vulnerability policies) in caches that expire every few seconds. When one expires under load,
every request in flight for that project misses it at once and each reads the database (16
connections: 16 reads of the same rows, each a session and a thread hand-off). Through
:class:`SingleFlight` the first miss reads and the others await its answer; its error is
theirs too. Nothing is kept once the call returns: freshness stays the cache's business.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Hashable
from typing import Generic, TypeVar

T = TypeVar("T")


class SingleFlight(Generic[T]):
    """At most one call of a key in flight; its concurrent callers share its outcome."""

    def __init__(self) -> None:
        self._calls: dict[Hashable, asyncio.Future[T]] = {}

    def in_flight(self, key: Hashable) -> bool:
        return key in self._calls

    async def run(self, key: Hashable, call: Callable[[], Awaitable[T]]) -> T:
        """``call()``'s answer, or that of the call of ``key`` already in flight."""
        while (found := self._calls.get(key)) is not None:
            try:
                # shielded: a waiter that is cancelled (its client left) cancels nobody else
                return await asyncio.shield(found)
            except asyncio.CancelledError:
                current = asyncio.current_task()
                if not found.cancelled() or (current is not None and current.cancelling()):
                    raise  # this waiter was cancelled
                # the caller that was reading was cancelled: read again (or join the next)
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._calls[key] = future
        try:
            result = await call()
        except Exception as error:
            future.set_exception(error)
            future.exception()  # retrieved here: no "never retrieved" warning without waiters
            raise
        except BaseException:
            future.cancel()
            raise
        else:
            future.set_result(result)
            return result
        finally:
            del self._calls[key]
