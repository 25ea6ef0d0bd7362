"""Registry tokens that die with the right they carry.

A registry token is good for its whole lifetime (30 minutes) once signed, and the registry
checks nothing but its signature. harborlite's ``/v2/`` gateway checks one thing more, from
memory, per request: was a right of this token's subject (or of the project it names) taken
away after the token was issued? The domain operations that take rights away call
:func:`revoke` in their transaction (a user deleted, disabled, demoted, given a new password,
removed from a project or given a lower role; a robot deleted, disabled, narrowed or given a
new secret; a project deleted, or made private for anonymous tokens). The row lands with the
change; the replica that committed it applies it at once (a session event), and every replica
reads new rows every :data:`POLL_SECONDS` (one indexed query, off the request path), and
the rows of the last :data:`RECHECK_MS` again: a row's id is given at insert, so a
transaction committing late lands below ids already read.

The client whose token is refused asks the token service again and gets what it may do now.

Timing: a token issued before the revocation (``iat_ms`` < the row's time) is refused
everywhere. The token service reads new rows before it signs (:meth:`Revocations.catch_up`,
at most every :data:`CATCH_UP_SECONDS`), so no replica signs from rights it has cached after
they were taken away; a replica also refuses its own tokens signed before it applied a row.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from typing import Any, Literal

from sqlalchemy import delete, or_, select
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import Session

from harborlite.auth.tokens import LEEWAY_SECONDS, Claims
from harborlite.db.models import Revocation

log = logging.getLogger("harborlite.revocation")

Kind = Literal["user", "robot", "project", "anonymous"]
POLL_SECONDS = 0.25
CATCH_UP_SECONDS = 0.05  # how stale the token service lets its view be before it signs
# rows this recent are read again at every poll (applying one twice changes nothing): a
# revoking transaction may commit after rows with higher ids were read, up to this much later
RECHECK_MS = 60_000
REPLICA = secrets.token_hex(4)  # this process, as the tokens it signs name it ("rep")


def now_ms() -> int:
    return int(time.time() * 1000)


def revoke(session: AsyncSession, kind: Kind, name: str) -> None:
    """Take away, from now, what tokens of ``name`` (a user, robot or project) carried.

    In the caller's transaction: the revocation exists when the change does."""
    at = now_ms()
    session.add(Revocation(kind=kind, name=name, at_ms=at))
    session.info.setdefault("revoked", []).append((kind, name, at))


class Revocations:
    """The revocations of the last token lifetime, in memory, and the check of a token."""

    def __init__(self, token_lifetime_seconds: int = 1800) -> None:
        self.keep_ms = (token_lifetime_seconds + LEEWAY_SECONDS + 60) * 1000
        self._at: dict[tuple[str, str], int] = {}  # (kind, name) -> newest revocation
        self._applied: dict[tuple[str, str], int] = {}  # -> when this replica applied it
        self._last_id = 0
        self._read_at = 0.0  # time.monotonic() of the last read
        self._task: asyncio.Task[None] | None = None
        self.on_change: list[Any] = []  # callables run when a revocation arrives

    def apply(self, kind: str, name: str, at_ms: int) -> None:
        key = ("subject" if kind in ("user", "robot") else kind, name)
        if at_ms <= self._at.get(key, 0):
            return  # known already (applied at commit, then read back by the poll)
        self._at[key] = at_ms
        self._applied[key] = now_ms()
        for callback in self.on_change:
            callback()

    def refused(self, claims: Claims, project: str | None) -> str | None:
        """Why this token no longer carries its rights (for ``project``), or None."""
        if not self._at:
            return None
        keys: list[tuple[str, str]] = []
        if claims.subject:  # a user's name or a robot's login name: they never collide
            keys.append(("subject", claims.subject))
        if project:
            keys.append(("project", project))
            if not claims.subject:
                keys.append(("anonymous", project))
        for key in keys:
            at = self._at.get(key)
            if at is None:
                continue
            if claims.issued_ms < at:
                return f"token revoked: {key[0]} {key[1]} changed after it was issued"
            if claims.replica == REPLICA and claims.issued_ms < self._applied.get(key, 0):
                return f"token revoked: {key[0]} {key[1]} changed as it was issued"
        return None

    def watch(self, session_class: type[Session]) -> None:
        """Apply this process's revocations as soon as their transaction commits."""
        from sqlalchemy import event

        def after_commit(session: Session) -> None:
            for kind, name, at in session.info.pop("revoked", []):
                self.apply(kind, name, at)

        def after_rollback(session: Session, *_: Any) -> None:
            session.info.pop("revoked", None)

        event.listen(session_class, "after_commit", after_commit)
        event.listen(session_class, "after_soft_rollback", after_rollback)

    async def catch_up(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Read new rows unless read moments ago: the token service calls it before signing,
        so a replica never signs from rights another replica has just taken away."""
        if time.monotonic() - self._read_at > CATCH_UP_SECONDS:
            await self.load(sessions)

    async def load(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Read the rows written since the last read (at start: of the last token lifetime)."""
        self._read_at = time.monotonic()
        now = now_ms()
        since = now - self.keep_ms
        async with sessions() as session:
            rows = (
                await session.execute(
                    select(Revocation.id, Revocation.kind, Revocation.name, Revocation.at_ms)
                    .where(
                        # ids are handed out at insert, not at commit: a transaction that
                        # committed after a later id was read is found again by its time
                        or_(Revocation.id > self._last_id, Revocation.at_ms > now - RECHECK_MS),
                        Revocation.at_ms > since,
                    )
                    .order_by(Revocation.id)
                )
            ).all()
        for row_id, kind, name, at in rows:
            self._last_id = max(self._last_id, row_id)
            self.apply(kind, name, at)

    async def prune(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        """Forget what no live token can predate, here and in the database."""
        before = now_ms() - self.keep_ms
        for key in [key for key, at in self._at.items() if at < before]:
            del self._at[key]
            self._applied.pop(key, None)
        async with sessions() as session:
            await session.execute(delete(Revocation).where(Revocation.at_ms < before))
            await session.commit()

    def start(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        self._task = asyncio.create_task(self._run(sessions), name="revocations")

    async def _run(self, sessions: async_sessionmaker[AsyncSession]) -> None:
        pruned = time.monotonic()
        while True:
            await asyncio.sleep(POLL_SECONDS)
            try:
                await self.load(sessions)
                if time.monotonic() - pruned > 60:
                    pruned = time.monotonic()
                    await self.prune(sessions)
            except Exception:  # the database away: try again at the next tick
                log.warning("could not read revocations", exc_info=True)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
