"""The pool pings only a connection that sat idle (:data:`harborlite.db.engine.PING_IDLE_SECONDS`),
not every checkout: PostgreSQL restarted while harborlite had nothing to do leaves the pool
full of dead connections, and the next requests are still answered (the ping finds the dead
one, the pool replaces it and every one opened before it), never with a 500 or a 503.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest

from harborlite.db.engine import PING_IDLE_SECONDS
from tests.harness import Harborlite, cleanup, start_harborlite
from tests.support.processes import PostgresServer, start_postgres, stop_postgres


@pytest.fixture(scope="module")
def restarted() -> Iterator[tuple[PostgresServer, Harborlite]]:
    """A PostgreSQL of this module's own (it is restarted) under a harborlite."""
    with PostgresServer() as postgres:
        server = start_harborlite(postgres.dsn)
        try:
            yield postgres, server
        finally:
            cleanup(server)


def test_requests_after_an_idle_restart_are_answered(
    restarted: tuple[PostgresServer, Harborlite],
) -> None:
    postgres, server = restarted
    for n in range(4):  # several connections in the pool
        server.create_project(f"idle{n}")
    stop_postgres(postgres)
    start_postgres(postgres)
    time.sleep(PING_IDLE_SECONDS)  # every pooled connection has sat idle
    answers = [
        server.api("GET", f"/projects/idle{n}", auth=server.admin).status_code for n in range(4)
    ]
    assert answers == [200] * 4, answers
