"""The one exception the remote-registry client raises: aiohttp's errors are translated here."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime


class RemoteError(Exception):
    """A remote registry that cannot be reached, refused, or answered what it should not.

    ``status`` is the HTTP status when the registry answered (None: no answer at all);
    ``retry_after`` the seconds its ``Retry-After`` asked for (a 429 or a 503)."""

    def __init__(
        self, message: str, *, status: int | None = None, retry_after: float | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.status = status
        self.retry_after = retry_after


def parse_retry_after(value: str | None) -> float | None:
    """Seconds from a ``Retry-After`` value: a number of seconds, or an HTTP date."""
    if not value:
        return None
    text = value.strip()
    try:
        return max(0.0, float(text))
    except ValueError:
        pass
    try:
        when = parsedate_to_datetime(text)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())
