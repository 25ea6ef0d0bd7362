"""A token bucket: at most ``rate`` requests a second to one endpoint, bursts up to ``rate``.

Reservations are taken synchronously (no lock, nothing bound to an event loop), so concurrent
callers queue up in order; a caller whose token is not there yet sleeps until it is.
:func:`bucket_for` shares one bucket per endpoint across the process's clients, so several
replication tasks against the same endpoint stay within its rate together.
"""

from __future__ import annotations

import asyncio
import time


class TokenBucket:
    def __init__(self, rate_per_second: float) -> None:
        if rate_per_second <= 0:
            raise ValueError("the rate must be positive")
        self.rate = rate_per_second
        self.capacity = max(1.0, rate_per_second)
        self._tokens = self.capacity
        self._stamp = time.monotonic()

    def reserve(self) -> float:
        """Take one token; the seconds to wait before using it (0: now)."""
        now = time.monotonic()
        self._tokens = min(self.capacity, self._tokens + (now - self._stamp) * self.rate)
        self._stamp = now
        self._tokens -= 1.0
        return 0.0 if self._tokens >= 0 else -self._tokens / self.rate

    async def acquire(self) -> None:
        wait = self.reserve()
        if wait > 0:
            await asyncio.sleep(wait)


_BUCKETS: dict[tuple[int, float], TokenBucket] = {}


def bucket_for(endpoint_id: int, rate_per_second: float | None) -> TokenBucket | None:
    """The process's bucket of this endpoint at this rate (None: no limit)."""
    if rate_per_second is None or rate_per_second <= 0:
        return None
    key = (endpoint_id, float(rate_per_second))
    bucket = _BUCKETS.get(key)
    if bucket is None:
        bucket = _BUCKETS[key] = TokenBucket(rate_per_second)
    return bucket
