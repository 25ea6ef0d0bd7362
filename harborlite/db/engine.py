"""Database wiring: the async engine, sessions, and migrations at start."""

from __future__ import annotations

from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event
from sqlalchemy.engine import Connection, Dialect
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from harborlite.resources import resource_dir

MIGRATIONS_DIR = resource_dir("migrations")


def make_engine(url: str) -> AsyncEngine:
    if url.startswith("sqlite"):
        engine = create_async_engine(url, connect_args={"timeout": 30})

        @event.listens_for(engine.sync_engine, "connect")
        def _sqlite_pragmas(dbapi_connection, connection_record):  # type: ignore[no-untyped-def]
            cursor = dbapi_connection.cursor()
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.close()

        return engine
    engine = create_async_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    event.listen(engine.sync_engine, "do_connect", _connect_or_unreachable)
    return engine


# SQLSTATE "sqlclient unable to establish sqlconnection": what a server that is down means
UNREACHABLE_SQLSTATE = "08001"


def _connect_or_unreachable(dialect: Dialect, record: Any, cargs: Any, cparams: Any) -> Any:
    """Open a connection as the dialect would; a server that refuses or does not answer
    (asyncpg raises the socket's OSError or a TimeoutError, which SQLAlchemy lets through
    untranslated) becomes the driver's OperationalError with SQLSTATE 08001, so it reaches
    :mod:`harborlite.db.errors` as every other database error does."""
    dbapi: Any = dialect.loaded_dbapi
    try:
        return dbapi.connect(*cargs, **cparams)
    except (OSError, TimeoutError) as error:
        unreachable = dbapi.OperationalError(f"cannot reach the database: {error}")
        unreachable.sqlstate = unreachable.pgcode = UNREACHABLE_SQLSTATE
        raise unreachable from error


def make_sessionmaker(engine: AsyncEngine) -> async_sessionmaker[AsyncSession]:
    return async_sessionmaker(engine, expire_on_commit=False)


def alembic_config() -> Config:
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    return config


def _upgrade(connection: Connection) -> None:
    config = alembic_config()
    config.attributes["connection"] = connection
    command.upgrade(config, "head")


async def migrate(engine: AsyncEngine) -> None:
    """Apply every pending migration (serve runs this at start)."""
    async with engine.begin() as connection:
        await connection.run_sync(_upgrade)
