"""Database wiring: the async engine, sessions, and migrations at start."""

from __future__ import annotations

import time
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import event, exc
from sqlalchemy.engine import Connection, Dialect, make_url
from sqlalchemy.ext.asyncio import (
    AsyncEngine,
    AsyncSession,
    async_sessionmaker,
    create_async_engine,
)

from harborlite.resources import resource_dir

MIGRATIONS_DIR = resource_dir("migrations")


# PostgreSQL connections one process may hold: the pool, and the overflow it opens beyond it
# under a burst (closed again once returned: PostgreSQL forks a backend for each one opened, so
# the pool is the larger part). A request that finds every one checked out waits for one (up
# to POOL_TIMEOUT seconds) rather than failing.
POOL_SIZE, MAX_OVERFLOW, POOL_TIMEOUT = 20, 10, 30
# A pooled connection idle longer than this is pinged before it is handed out (one that died
# with a PostgreSQL restart is replaced, with every other one opened before); one in steady use
# is not (a ping per checkout was a round trip per transaction). A connection that dies in use
# fails its statement (503, try again) and invalidates the pool the same way.
PING_IDLE_SECONDS = 1.0
# prepared statements asyncpg keeps per connection (SQLAlchemy's default 100 is fewer than
# the statements a push, a pull and the API's pages use)
STATEMENT_CACHE = 500
# the name harborlite's connections give PostgreSQL (``pg_stat_activity.application_name``):
# an operator (and the bench, and the tests) tells harborlite's backends from the others on
# the same database (autovacuum's workers, psql sessions, another client's pool)
APPLICATION_NAME = "harborlite"
_CHECKED_IN = "harborlite.checked_in"  # connection record info: when it was last returned
# the database URL's query may set them (``?pool_size=5&max_overflow=0``): taken out of the
# URL before the driver sees it
POOL_PARAMETERS = ("pool_size", "max_overflow", "pool_timeout")


def pool_of(url: str) -> tuple[str, dict[str, int]]:
    """The URL without the pool's parameters, and the pool's sizes it sets (the defaults
    otherwise); a value that is not a whole number (or a negative one) is a ValueError."""
    parsed = make_url(url)
    sizes = {"pool_size": POOL_SIZE, "max_overflow": MAX_OVERFLOW, "pool_timeout": POOL_TIMEOUT}
    for name in POOL_PARAMETERS:
        raw = parsed.query.get(name)
        if raw is None:
            continue
        value = raw[-1] if isinstance(raw, tuple) else raw
        if not value.isdigit() or (name == "pool_size" and int(value) < 1):
            raise ValueError(f"the database URL's {name} must be a whole number, got {value!r}")
        sizes[name] = int(value)
    parsed = parsed.difference_update_query(POOL_PARAMETERS)
    return parsed.render_as_string(hide_password=False), sizes


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
    url, sizes = pool_of(url)
    connect_args: dict[str, Any] = {"server_settings": {"application_name": APPLICATION_NAME}}
    if "prepared_statement_cache_size" not in make_url(url).query:
        connect_args["prepared_statement_cache_size"] = STATEMENT_CACHE
    engine = create_async_engine(url, connect_args=connect_args, **sizes)
    event.listen(engine.sync_engine, "do_connect", _connect_or_unreachable)
    _ping_when_idle(engine)
    return engine


def _ping_when_idle(engine: AsyncEngine) -> None:
    """Ping a connection on checkout only when it was idle for PING_IDLE_SECONDS or more."""
    dialect, pool = engine.sync_engine.dialect, engine.sync_engine.pool

    @event.listens_for(pool, "checkin")
    def _returned(dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN] = time.monotonic()

    @event.listens_for(pool, "checkout")
    def _handed_out(dbapi_connection: Any, record: Any, proxy: Any) -> None:
        returned = record.info.get(_CHECKED_IN)
        if returned is None or time.monotonic() - returned < PING_IDLE_SECONDS:
            return  # just opened, or in steady use
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as error:  # the pool replaces it, and every one opened before it
            raise exc.InvalidatePoolError(f"an idle connection failed its ping: {error}") from error


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
