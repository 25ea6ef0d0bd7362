"""The token service's short-lived cache: cleared by commits touching users, projects or
members, and untouched (without errors) by rollbacks and by other tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy.exc import IntegrityError

from harborlite.auth.access_cache import AccessCache
from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from harborlite.db.models import AuditLog, Project, User


async def test_commits_of_watched_rows_clear_it(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'c.db'}")
    try:
        await migrate(engine)
        sessions = make_sessionmaker(engine)
        cache = AccessCache(ttl=60)
        cache.watch(sessions)
        async with sessions() as session:
            session.add(User(username="u", password_hash="h"))
            await session.commit()
        assert cache.epoch == 1
        user = User(id=99, username="cached", password_hash="h")
        cache.remember_user(user)
        assert cache.user("cached") is user
        async with sessions() as session:  # an unwatched table leaves the cache alone
            session.add(
                AuditLog(
                    username="u", operation="pull", resource_type="artifact", resource="p/r:v1"
                )
            )
            await session.commit()
        assert cache.epoch == 1 and cache.user("cached") is user
        async with sessions() as session:  # a failed write rolls back without clearing
            session.add(User(username="u", password_hash="h"))
            with pytest.raises(IntegrityError):
                await session.commit()
            await session.rollback()
        assert cache.epoch == 1
        async with sessions() as session:
            session.add(Project(name="p", public=True, project_metadata={}))
            await session.commit()
        assert cache.epoch == 2 and cache.user("cached") is None
    finally:
        await engine.dispose()
