"""Shared fixtures: real PostgreSQL, and harborlite served on SQLite and on PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.processes import PostgresServer


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session", params=["sqlite", "postgresql"])
def harborlite(request: pytest.FixtureRequest) -> Iterator[Harborlite]:
    """harborlite with its embedded registry, once per database kind."""
    database_url = None
    if request.param == "postgresql":
        pg: PostgresServer = request.getfixturevalue("postgres")
        database_url = pg.create_database("harborlite_e2e")
    server = start_harborlite(database_url)
    try:
        yield server
    finally:
        cleanup(server)


@pytest.fixture(scope="session")
def harborlite_sqlite() -> Iterator[Harborlite]:
    """One harborlite on SQLite, for tests that need not run on both databases."""
    server = start_harborlite()
    try:
        yield server
    finally:
        cleanup(server)
