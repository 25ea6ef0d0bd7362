"""Registry tokens signed moments ago, handed out again for the same grant.

A rollout of a hundred pods pulling one image with one pull secret asks the token service a
hundred times in a second for the same subject and the same grant; signing each costs more than
the rest of the request together (ES256 and the claims' JSON: about a fifth of its CPU). A token
signed for a grant is given again, as it was signed (its ``issued_at``, ``expires_in`` and
``jti``), to the next caller asking for the same grant within :data:`REUSE_SECONDS`.

The same token is what a fresh signing would give, but for its times:

- the grant is computed for every request, from what the caller may do now, and is part of the
  key, so a caller given more or less gets a token of its own;
- every revocation this process applies (its own at commit, other replicas' as it reads them,
  before the token service signs: :meth:`Revocations.catch_up`) empties the cache
  (``Revocations.on_change``), so no token issued before a revocation is handed out after it;
- the token lives ``REUSE_SECONDS`` less at most than a fresh one (of 30 minutes).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import NamedTuple

from .scopes import Access

REUSE_SECONDS = 1.0
MAX_ENTRIES = 10_000  # grants kept at once; past it the stale go (all, if half are fresh)


class Issued(NamedTuple):
    token: str
    expires_in: int
    issued_at: int  # Unix seconds, as signed


def key_of(subject: str, access: Sequence[Access], not_after: int | None) -> str:
    """The cache key of a grant: one string, the ``repr`` of its parts, which no two grants
    share (a tuple of the grant's objects per entry, ten thousand of them, made the
    collector's passes cost more than the signing saved)."""
    return repr((subject, not_after, [(a.type, a.name, a.actions) for a in access]))


class IssuedTokens:
    """Signed tokens by grant (:func:`key_of`), each for :data:`REUSE_SECONDS`."""

    def __init__(self, reuse_seconds: float = REUSE_SECONDS) -> None:
        self._reuse = reuse_seconds
        self._entries: dict[str, tuple[float, str, int, int]] = {}

    def get(self, key: str) -> Issued | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if time.monotonic() - entry[0] >= self._reuse:
            del self._entries[key]
            return None
        return Issued(entry[1], entry[2], entry[3])

    def put(self, key: str, issued: Issued) -> None:
        if self._reuse <= 0:
            return
        now = time.monotonic()
        if len(self._entries) >= MAX_ENTRIES:  # keep what is still fresh, or start again
            fresh = {k: e for k, e in self._entries.items() if now - e[0] < self._reuse}
            self._entries = fresh if len(fresh) < MAX_ENTRIES // 2 else {}
        self._entries[key] = (now, *issued)

    def clear(self) -> None:
        self._entries.clear()
