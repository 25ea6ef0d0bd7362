"""One server for the package: PostgreSQL, JSON logs. Its tests compare counters before and
after what they do, and read the log from their own mark on, so they stay independent."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.harness import Harborlite, own_harborlite
from tests.support.processes import PostgresServer


@pytest.fixture(scope="package")
def observed(postgres: PostgresServer) -> Iterator[Harborlite]:
    yield from own_harborlite(
        database_url=postgres.create_database("harborlite_observability"),
        extra_env={"HARBORLITE_LOG_FORMAT": "json"},
    )
