"""Shared fixtures: real PostgreSQL, and harborlite served on PostgreSQL and on SQLite.

Which database a test's ``harborlite`` runs on:

- by default PostgreSQL, the production database (the API, contract and permission tables);
- both, SQLite and PostgreSQL, for a test marked ``@pytest.mark.both_databases`` (or a module
  with ``pytestmark = pytest.mark.both_databases``): where the database matters, such as
  concurrent writers and the smoke set;
- ``harborlite_sqlite`` for tests about SQLite itself.

``pytest --both-databases`` runs every ``harborlite`` test on both. One server per database is
started for the whole session and shared by ``harborlite`` and ``harborlite_<database>``; tests
keep to names of their own (``Harborlite.unique``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.harness import Harborlite, own_harborlite, screenshot_dir
from tests.support.docker import DockerCli, Dockerd
from tests.support.processes import PostgresServer

DATABASES = ("sqlite", "postgresql")
DEFAULT_DATABASE = "postgresql"
BOTH = "both_databases"


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--both-databases",
        action="store_true",
        help="run every test using the harborlite fixture on SQLite and on PostgreSQL",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", f"{BOTH}: run this test's harborlite on SQLite and on PostgreSQL"
    )


def pytest_sessionstart(session: pytest.Session) -> None:
    """The run (its controller, under pytest-xdist) starts from an empty screenshot folder."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = screenshot_dir()
    for old in folder.glob("*.png") if folder.is_dir() else []:
        old.unlink()


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Name the portal's screenshot folder in the CI log, so a reviewer can look at the pages
    (here, so the controller of a pytest-xdist run, which collects nothing, says it too)."""
    if os.environ.get("PYTEST_XDIST_WORKER"):
        return
    folder = screenshot_dir()
    taken = sorted(folder.glob("*.png")) if folder.is_dir() else []
    if taken:
        terminalreporter.write_sep("-", "portal screenshots")
        terminalreporter.write_line(f"{len(taken)} portal screenshots written to {folder}")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """Give ``harborlite`` its database: PostgreSQL, or both for ``both_databases`` tests."""
    if "harborlite" not in metafunc.fixturenames:
        return
    both = metafunc.config.getoption("--both-databases") or any(
        metafunc.definition.iter_markers(BOTH)
    )
    databases = list(DATABASES) if both else [DEFAULT_DATABASE]
    metafunc.parametrize("harborlite", databases, indirect=True, scope="session")


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture(scope="session")
def harborlite_postgresql(postgres: PostgresServer) -> Iterator[Harborlite]:
    """harborlite with its embedded registry, on PostgreSQL."""
    yield from own_harborlite(database_url=postgres.create_database("harborlite_e2e"))


@pytest.fixture(scope="session")
def harborlite_sqlite() -> Iterator[Harborlite]:
    """harborlite with its embedded registry, on SQLite (the default database)."""
    yield from own_harborlite()


@pytest.fixture(scope="session")
def harborlite(request: pytest.FixtureRequest) -> Harborlite:
    """The server under test, on the database ``pytest_generate_tests`` chose for the test."""
    database = getattr(request, "param", DEFAULT_DATABASE)
    assert database in DATABASES, database
    server: Harborlite = request.getfixturevalue(f"harborlite_{database}")
    return server


@pytest.fixture(scope="session")
def dockerd() -> Iterator[Dockerd]:
    """One Docker engine per pytest worker (Debian's dockerd, started here, stopped after)."""
    with Dockerd() as daemon:
        yield daemon


@pytest.fixture
def docker(dockerd: Dockerd, tmp_path: Path) -> DockerCli:
    """The docker CLI with a config folder of this test's own: no login leaks between tests."""
    return dockerd.cli(tmp_path / "docker-config")
