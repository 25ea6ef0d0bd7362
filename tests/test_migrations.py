"""The migrations: one head, they build exactly the tables the models declare, on SQLite and
on PostgreSQL, and they go down and up again."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import harborlite.portal.models  # noqa: F401  (its table belongs to the metadata too)
from harborlite.db.engine import alembic_config, make_engine, migrate
from harborlite.db.models import Base
from tests.support.processes import PostgresServer


def test_one_head() -> None:
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    assert len(heads) == 1, f"several migration heads: {heads}; chain the newest to the other"


def _differences(connection: Connection) -> list[Any]:
    context = MigrationContext.configure(connection, opts={"compare_type": False})
    return list(compare_metadata(context, Base.metadata))


def _tables(connection: Connection) -> set[str]:
    return set(inspect(connection).get_table_names())


async def _check(url: str) -> None:
    engine = make_engine(url)
    try:
        await migrate(engine)
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
            tables = await connection.run_sync(_tables)
        assert set(Base.metadata.tables) <= tables

        def down_and_up(connection: Connection) -> None:
            config = alembic_config()
            config.attributes["connection"] = connection
            command.downgrade(config, "base")
            assert _tables(connection) <= {"alembic_version"}
            command.upgrade(config, "head")

        async with engine.begin() as connection:
            await connection.run_sync(down_and_up)
        async with engine.connect() as connection:
            assert await connection.run_sync(_differences) == []
    finally:
        await engine.dispose()


async def test_sqlite(tmp_path: Path) -> None:
    await _check(f"sqlite+aiosqlite:///{tmp_path / 'm.db'}")


async def test_postgresql(postgres: PostgresServer) -> None:
    await _check(postgres.create_database())
