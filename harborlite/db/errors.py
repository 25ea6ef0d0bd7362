"""The database's exceptions, translated into the error tree at the boundary (here only).

Only two kinds of database error are a client's business, and each is recognised by its code,
not by its class alone (an IntegrityError may be a foreign key, an OperationalError a missing
column, and those are harborlite's bugs, answered 500 with the traceback in the log):

- a unique key that a concurrent writer took first (SQLite's UNIQUE or PRIMARY KEY
  constraint, PostgreSQL's 23505) is a :class:`Conflict`; operations that know what the key
  means call :func:`flush_unique` to say so in their own words;
- a database that is busy or gone (SQLite BUSY or LOCKED; PostgreSQL's connection errors,
  serialization failures and deadlocks) is :class:`UpstreamUnavailable`: try again.

The REST API's and the portal's renderers call :func:`translated`; the ``/v2/`` push index
asks :func:`worth_retrying`.
"""

from __future__ import annotations

import sqlite3

from sqlalchemy.exc import DBAPIError, IntegrityError, InterfaceError, OperationalError
from sqlalchemy.ext.asyncio import AsyncSession

from harborlite.errors import Conflict, HarborliteError, UpstreamUnavailable

_SQLITE_UNIQUE = frozenset({sqlite3.SQLITE_CONSTRAINT_UNIQUE, sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY})
_SQLITE_BUSY = frozenset({sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED})
_PG_UNIQUE = "23505"
_PG_TRY_AGAIN = ("08", "40001", "40P01", "55P03", "57P01", "57P02", "57P03")


def _sqlite_code(error: DBAPIError) -> int | None:
    code = getattr(error.orig, "sqlite_errorcode", None)  # extended codes included
    return code if isinstance(code, int) else None


def _pg_code(error: DBAPIError) -> str:
    code = getattr(error.orig, "sqlstate", None) or getattr(error.orig, "pgcode", None)
    return code if isinstance(code, str) else ""


def is_unique_violation(error: BaseException) -> bool:
    """A unique key (or primary key) another writer holds."""
    if not isinstance(error, IntegrityError):
        return False
    code = _sqlite_code(error)
    return (code is not None and code in _SQLITE_UNIQUE) or _pg_code(error) == _PG_UNIQUE


def is_busy(error: BaseException) -> bool:
    """The database could not serve the statement now; the same statement may pass later."""
    if isinstance(error, ConnectionError):
        # a new connection refused or reset (PostgreSQL stopped or restarting): asyncpg's
        # connect raises it, and SQLAlchemy passes it on unwrapped
        return True
    if not isinstance(error, DBAPIError):
        # asyncpg's own error at connect, also unwrapped: 57P03, the server is starting up
        code = getattr(error, "sqlstate", None)
        return isinstance(code, str) and code.startswith(_PG_TRY_AGAIN)
    code = _sqlite_code(error)
    if code is not None:
        return isinstance(error, OperationalError) and (code & 0xFF) in _SQLITE_BUSY
    # a connection the server dropped (a restart, a failover) is invalidated, whether the
    # driver calls it an OperationalError or an InterfaceError (asyncpg's "connection was closed")
    return _pg_code(error).startswith(_PG_TRY_AGAIN) or (
        error.connection_invalidated and isinstance(error, (OperationalError, InterfaceError))
    )


def worth_retrying(error: BaseException) -> bool:
    """A transaction that lost a race (a key a concurrent writer took first, a busy database)."""
    return is_unique_violation(error) or is_busy(error)


def translated(error: BaseException) -> HarborliteError | None:
    """The error a client is told for a database exception, or None if it is not one of the
    two kinds a client can act on."""
    if is_unique_violation(error):
        return Conflict("the change conflicts with another one made at the same time")
    if is_busy(error):
        return UpstreamUnavailable("the database is busy or unreachable; try again")
    return None


async def flush_unique(session: AsyncSession, message: str) -> None:
    """Flush, and answer ``Conflict(message)`` if a unique key was taken meanwhile.

    The check-then-insert of an operation races other writers; the database decides, and the
    loser's transaction is rolled back (what the session had not committed is gone with it)."""
    try:
        await session.flush()
    except IntegrityError as error:
        if not is_unique_violation(error):
            raise
        await session.rollback()
        raise Conflict(message) from None
