"""Which database errors are a client's business (a taken key, a busy database) and which are
harborlite's bugs: read from the exception's code, not its class or text."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, event, text
from sqlalchemy.exc import DBAPIError

from harborlite.db.errors import is_busy, is_unique_violation, translated, worth_retrying
from harborlite.errors import Conflict, UpstreamUnavailable


def error_of(path: Path, statement: str, *, hold_lock: bool = False) -> DBAPIError:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})

    @event.listens_for(engine, "connect")
    def _foreign_keys(dbapi_connection, connection_record):  # type: ignore[no-untyped-def]
        dbapi_connection.execute("PRAGMA foreign_keys=ON")

    with engine.begin() as setup:
        setup.execute(
            text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, name TEXT UNIQUE)")
        )
        setup.execute(
            text("CREATE TABLE IF NOT EXISTS child (id INTEGER REFERENCES t(id), v NOT NULL)")
        )
        setup.execute(text("DELETE FROM child"))
        setup.execute(text("DELETE FROM t"))
        setup.execute(text("INSERT INTO t (name) VALUES ('taken')"))
    holder = engine.connect()
    try:
        if hold_lock:  # another writer is in the middle of its transaction
            holder.exec_driver_sql("BEGIN IMMEDIATE")
        with pytest.raises(DBAPIError) as raised, engine.begin() as connection:
            connection.execute(text(statement))
        return raised.value
    finally:
        holder.close()
        engine.dispose()


def test_a_busy_sqlite_and_a_taken_key_are_tried_again(tmp_path: Path) -> None:
    busy = error_of(tmp_path / "db", "INSERT INTO t (name) VALUES ('new')", hold_lock=True)
    assert "locked" in str(busy) and worth_retrying(busy)
    taken = error_of(tmp_path / "db", "INSERT INTO t (name) VALUES ('taken')")
    assert worth_retrying(taken)


def test_other_database_errors_are_not(tmp_path: Path) -> None:
    missing = error_of(tmp_path / "db", "INSERT INTO nowhere VALUES (1)")
    assert not worth_retrying(missing)


def test_a_taken_key_is_a_conflict_and_a_busy_database_a_503(tmp_path: Path) -> None:
    taken = error_of(tmp_path / "db", "INSERT INTO t (name) VALUES ('taken')")
    assert is_unique_violation(taken) and not is_busy(taken)
    assert isinstance(translated(taken), Conflict)
    busy = error_of(tmp_path / "db", "INSERT INTO t (name) VALUES ('new')", hold_lock=True)
    assert is_busy(busy) and not is_unique_violation(busy)
    assert isinstance(translated(busy), UpstreamUnavailable)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO nowhere VALUES (1)",  # no such table: a bug, not a busy database
        "INSERT INTO child VALUES (99, 1)",  # a foreign key: not "already exists"
        "INSERT INTO child VALUES (NULL, NULL)",  # NOT NULL
    ],
)
def test_errors_of_harborlite_itself_stay_500s(tmp_path: Path, statement: str) -> None:
    error = error_of(tmp_path / "db", statement)
    assert translated(error) is None
    assert not worth_retrying(error)


async def test_a_postgresql_that_refuses_connections_is_busy() -> None:
    """asyncpg's connect raises ConnectionRefusedError (SQLAlchemy does not wrap it): a stopped
    or restarting PostgreSQL, a 503 and a push worth sending again, never a 500."""
    import socket

    from sqlalchemy.ext.asyncio import create_async_engine

    with socket.socket() as probe:  # a loopback port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    engine = create_async_engine(f"postgresql+asyncpg://u:p@127.0.0.1:{port}/db")
    try:
        with pytest.raises(OSError) as raised:
            async with engine.connect() as connection:
                await connection.execute(text("SELECT 1"))
    finally:
        await engine.dispose()
    assert is_busy(raised.value) and worth_retrying(raised.value)
    assert isinstance(translated(raised.value), UpstreamUnavailable)
    assert not is_busy(OSError("disk"))  # not a connection: harborlite's bug, a 500
    assert not is_busy(ValueError("x"))


class _StartingUp(Exception):
    sqlstate = "57P03"  # asyncpg's CannotConnectNowError carries its state so


def test_a_postgresql_starting_up_is_busy() -> None:
    assert is_busy(_StartingUp())
    assert not is_busy(type("Other", (Exception,), {"sqlstate": "42P01"})())
