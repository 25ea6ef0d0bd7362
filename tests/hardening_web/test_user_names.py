"""User names are one name whatever their case: ``Admin``, ``ADMIN`` and ``admin`` are one
user (a second create is Harbor's 409, a login in another case is that user), and the
migration that makes it so refuses a database already holding such names, naming them."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import text
from sqlalchemy.engine import Connection

from harborlite.db.engine import alembic_config, make_engine
from tests.harness import Harborlite
from tests.support.processes import PostgresServer

PASSWORD = "Passw0rd!x"
BEFORE = "0106_retention"  # the revision before the index


@pytest.mark.both_databases  # the index on lower(username): SQLite's and PostgreSQL's
def test_names_differing_only_in_case_are_one_user(harborlite: Harborlite) -> None:
    name = harborlite.unique("Casey")  # "Casey12-345"
    user_id = harborlite.create_user(name, PASSWORD)
    for other in (name.lower(), name.upper(), name.swapcase()):
        again = harborlite.api(
            "POST",
            "/users",
            auth=harborlite.admin,
            json={"username": other, "password": PASSWORD, "email": f"{other}@x.example"},
        )
        assert again.status_code == 409, again.text
        [error] = again.json()["errors"]
        assert error["code"] == "CONFLICT"
        assert error["message"].startswith(f"user {other} already exists as {name}")
    listed = harborlite.api(
        "GET", "/users", auth=harborlite.admin, params={"q": f"username={name}"}
    )
    assert listed.headers["X-Total-Count"] == "1"
    # a login in another case is the one user, under its stored name
    current = harborlite.api("GET", "/users/current", auth=(name.upper(), PASSWORD))
    assert current.status_code == 200, current.text
    assert current.json()["user_id"] == user_id
    assert current.json()["username"] == name
    # the built-in admin cannot be shadowed either
    shadow = harborlite.api(
        "POST", "/users", auth=harborlite.admin, json={"username": "ADMIN", "password": PASSWORD}
    )
    assert shadow.status_code == 409, shadow.text


def _to(revision: str) -> object:
    def run(connection: Connection) -> None:
        config = alembic_config()
        config.attributes["connection"] = connection
        command.upgrade(config, revision)

    return run


def _insert_users(connection: Connection, names: list[str]) -> None:
    for name in names:
        connection.execute(
            text(
                "INSERT INTO users (username, email, realname, comment, password_hash, "
                "sysadmin, disabled, creation_time, update_time) VALUES (:n, '', '', '', 'x', "
                "false, false, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP)"
            ),
            {"n": name},
        )


async def _clashing_database_is_refused(url: str) -> None:
    engine = make_engine(url)
    try:
        async with engine.begin() as connection:
            await connection.run_sync(_to(BEFORE))  # type: ignore[arg-type]
            await connection.run_sync(
                _insert_users, ["Admin", "admin", "bob", "Carol", "CAROL", "carol", "dave"]
            )
        with pytest.raises(RuntimeError) as refused:
            async with engine.begin() as connection:
                await connection.run_sync(_to("head"))  # type: ignore[arg-type]
        message = str(refused.value)
        assert "differ only in case: Admin, admin; CAROL, Carol, carol" in message
        assert "bob" not in message and "dave" not in message
        async with engine.begin() as connection:  # nothing changed: still before the index
            version = await connection.execute(text("SELECT version_num FROM alembic_version"))
            assert version.scalar_one() == BEFORE
            await connection.execute(
                text("DELETE FROM users WHERE username IN ('admin', 'CAROL', 'carol')")
            )
        async with engine.begin() as connection:  # once renamed or deleted, it runs
            await connection.run_sync(_to("head"))  # type: ignore[arg-type]
        with pytest.raises(Exception, match=r"(?i)unique"):
            async with engine.begin() as connection:
                await connection.run_sync(_insert_users, ["BOB"])
    finally:
        await engine.dispose()


async def test_the_migration_refuses_clashing_names_on_sqlite(tmp_path: Path) -> None:
    await _clashing_database_is_refused(f"sqlite+aiosqlite:///{tmp_path / 'clash.db'}")


async def test_the_migration_refuses_clashing_names_on_postgresql(
    postgres: PostgresServer,
) -> None:
    await _clashing_database_is_refused(postgres.create_database())
