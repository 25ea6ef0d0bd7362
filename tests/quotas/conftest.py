"""A fresh database of each kind for the quota tests that run in process."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker

from harborlite.db.engine import make_engine, make_sessionmaker, migrate
from tests.support.processes import PostgresServer

Sessions = async_sessionmaker[AsyncSession]


@pytest.fixture(params=["sqlite", "postgresql"])
async def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Sessions]:
    if request.param == "postgresql":
        pg: PostgresServer = request.getfixturevalue("postgres")
        url = pg.create_database()
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'quotas.db'}"
    engine = make_engine(url)
    await migrate(engine)
    try:
        yield make_sessionmaker(engine)
    finally:
        await engine.dispose()
