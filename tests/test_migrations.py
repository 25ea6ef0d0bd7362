"""The migrations: one head, they build exactly the tables the models declare, on SQLite and
on PostgreSQL, and they go down and up again."""

from __future__ import annotations

import importlib
import pkgutil
from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import inspect
from sqlalchemy.engine import Connection

import harborlite
from harborlite.db.engine import alembic_config, make_engine, migrate
from harborlite.db.models import Base
from tests.support.processes import PostgresServer

# Every domain's models (``harborlite/<domain>/models.py``) on the shared Base, whichever
# other modules this test process happened to import: the comparison sees every table.
for _found in pkgutil.iter_modules(harborlite.__path__):
    if _found.ispkg and (Path(harborlite.__path__[0]) / _found.name / "models.py").exists():
        importlib.import_module(f"harborlite.{_found.name}.models")


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


async def test_sqlite_never_reuses_ids(tmp_path: Path) -> None:
    """A deleted project's audit entries keep its id: a new project must never get it."""
    from sqlalchemy import text

    engine = make_engine(f"sqlite+aiosqlite:///{tmp_path / 'ids.db'}")
    try:
        await migrate(engine)
        async with engine.begin() as connection:
            for table in (
                "users",
                "projects",
                "members",
                "repositories",
                "artifacts",
                "tags",
                "audit_logs",
            ):
                sql = await connection.scalar(
                    text("SELECT sql FROM sqlite_master WHERE name = :t"), {"t": table}
                )
                assert "AUTOINCREMENT" in str(sql), table
            insert = text(
                "INSERT INTO projects (name, public, metadata, creation_time, update_time) "
                "VALUES (:n, 0, '{}', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            )
            await connection.execute(insert, {"n": "first"})
            first = await connection.scalar(text("SELECT id FROM projects WHERE name='first'"))
            await connection.execute(text("DELETE FROM projects"))
            await connection.execute(insert, {"n": "second"})
            second = await connection.scalar(text("SELECT id FROM projects WHERE name='second'"))
        assert second > first
    finally:
        await engine.dispose()
