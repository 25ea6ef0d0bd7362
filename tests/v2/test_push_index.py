"""Which database errors the push index tries again: read from the exception, not its text."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.exc import DBAPIError

from harborlite.v2.push_index import worth_retrying


def error_of(path: Path, statement: str, *, hold_lock: bool = False) -> DBAPIError:
    engine = create_engine(f"sqlite:///{path}", connect_args={"timeout": 0})
    with engine.begin() as setup:
        setup.execute(text("CREATE TABLE IF NOT EXISTS t (name TEXT UNIQUE)"))
        setup.execute(text("DELETE FROM t"))
        setup.execute(text("INSERT INTO t VALUES ('taken')"))
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
    busy = error_of(tmp_path / "db", "INSERT INTO t VALUES ('new')", hold_lock=True)
    assert "locked" in str(busy) and worth_retrying(busy)
    taken = error_of(tmp_path / "db", "INSERT INTO t VALUES ('taken')")
    assert worth_retrying(taken)


def test_other_database_errors_are_not(tmp_path: Path) -> None:
    missing = error_of(tmp_path / "db", "INSERT INTO nowhere VALUES (1)")
    assert not worth_retrying(missing)
