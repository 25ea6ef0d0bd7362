"""What the token service needs of the database, kept for a few seconds.

A pull asks for a token per layer batch and per repository; each asked the database for the
user and the project roles. Both change rarely, so they are kept for ``ttl`` seconds and
dropped at once whenever this process commits a change to users, projects or members (a
SQLAlchemy event on the app's own session class sees every such write, whatever surface made
it). A change made by another process (a replica, the CLI) is seen within ``ttl``.
"""

from __future__ import annotations

import time
from itertools import chain
from typing import Any

from sqlalchemy import event
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker
from sqlalchemy.orm import ORMExecuteState, Session

from harborlite.auth.permissions import ProjectAccess
from harborlite.db.models import Member, Project, Robot, User

WATCHED = (User, Project, Member, Robot)
MAX_ENTRIES = 10_000


class AccessCache:
    def __init__(self, ttl: float = 5.0) -> None:
        self.ttl = ttl
        self.epoch = 0
        self._users: dict[str, tuple[float, User]] = {}
        self._access: dict[tuple[str, frozenset[str]], tuple[float, dict[str, ProjectAccess]]] = {}

    def changed(self) -> None:
        """Users, projects or members changed: forget everything."""
        self.epoch += 1
        self._users.clear()
        self._access.clear()

    def user(self, username: str) -> User | None:
        entry = self._users.get(username)
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def remember_user(self, user: User) -> None:
        if self.ttl <= 0:
            return
        if len(self._users) >= MAX_ENTRIES:
            self._users.clear()
        self._users[user.username] = (time.monotonic() + self.ttl, user)

    def access(self, who: str, projects: frozenset[str]) -> dict[str, ProjectAccess] | None:
        """``who`` is :attr:`Principal.key <harborlite.auth.permissions.Principal.key>`."""
        entry = self._access.get((who, projects))
        if entry is None or entry[0] < time.monotonic():
            return None
        return entry[1]

    def remember_access(
        self, who: str, projects: frozenset[str], access: dict[str, ProjectAccess]
    ) -> None:
        if self.ttl <= 0:
            return
        if len(self._access) >= MAX_ENTRIES:
            self._access.clear()
        self._access[(who, projects)] = (time.monotonic() + self.ttl, access)

    def watch(self, sessions: async_sessionmaker[AsyncSession]) -> type[Session]:
        """Give ``sessions`` a session class of its own whose commits of watched rows call
        :meth:`changed` (the events stay with this app, not every Session in the process);
        the class, for other listeners of this app's commits."""

        class TrackedSession(Session):
            pass

        def note(session: Session, *_: Any) -> None:
            if any(
                isinstance(o, WATCHED) for o in chain(session.new, session.dirty, session.deleted)
            ):
                session.info["access_changed"] = True

        def on_execute(state: ORMExecuteState) -> None:
            mapper = state.bind_mapper
            if (state.is_update or state.is_delete) and mapper is not None:
                if mapper.class_ in WATCHED:
                    state.session.info["access_changed"] = True

        def after_commit(session: Session) -> None:
            if session.info.pop("access_changed", False):
                self.changed()

        def after_rollback(session: Session, *_: Any) -> None:
            session.info.pop("access_changed", None)

        event.listen(TrackedSession, "after_flush", note)
        event.listen(TrackedSession, "do_orm_execute", on_execute)
        event.listen(TrackedSession, "after_commit", after_commit)
        event.listen(TrackedSession, "after_soft_rollback", after_rollback)
        sessions.configure(sync_session_class=TrackedSession)
        return TrackedSession
