"""Pushes on PostgreSQL stay within harborlite's connection pool: more concurrent pushers than
the pool has connections all succeed (a burst waits for a connection, it does not fail), and
PostgreSQL never sees more of harborlite's connections than the pool allows.

The pool is made small through the database URL (``?pool_size=2&max_overflow=1``, read by
:func:`harborlite.db.engine.pool_of`); the pushers share a layer, so pushes into one unlimited
project (whose quota row is not locked) race on the same blob row and are tried again.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest

from harborlite.db.engine import MAX_OVERFLOW, POOL_SIZE, pool_of
from tests.api.pushing import Pusher
from tests.harness import Harborlite, own_harborlite
from tests.support.processes import PostgresServer

POOL, OVERFLOW = 2, 1
PUSHERS = 12
PROJECT = "poolbound"
SHARED_LAYER = b"a layer every pusher pushes into the same project" * 64


class Backends(threading.Thread):
    """The most backends PostgreSQL had open for ``database`` at once, sampled until stopped."""

    def __init__(self, port: int, database: str) -> None:
        super().__init__(daemon=True)
        self.port, self.database = port, database
        self.peak = self.samples = 0
        self.error: BaseException | None = None
        self._done = threading.Event()

    async def _sample(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres")
        try:
            while not self._done.is_set():
                count = await conn.fetchval(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1", self.database
                )
                self.peak = max(self.peak, int(count))
                self.samples += 1
                await asyncio.sleep(0.01)
        finally:
            await conn.close()

    def run(self) -> None:
        try:
            asyncio.run(self._sample())
        except BaseException as error:
            self.error = error

    def stop(self) -> None:
        self._done.set()
        self.join()


@pytest.fixture(scope="module")
def small_pool(postgres: PostgresServer) -> Iterator[tuple[Harborlite, str]]:
    url = postgres.create_database("pool_bounds")
    database = url.rsplit("/", 1)[1]
    yield from (
        (server, database)
        for server in own_harborlite(database_url=f"{url}?pool_size={POOL}&max_overflow={OVERFLOW}")
    )


def test_more_pushers_than_connections_all_succeed_within_the_pool(
    small_pool: tuple[Harborlite, str], postgres: PostgresServer
) -> None:
    server, database = small_pool
    server.create_project(PROJECT)
    backends = Backends(postgres.port, database)
    backends.start()

    def push(n: int) -> str:
        repository = f"{PROJECT}/pusher-{n}"
        with Pusher(server) as pusher:
            pusher.blob(repository, SHARED_LAYER, pusher._headers(repository))
            return pusher.image(repository, "v1", seed=str(n)).digest

    try:
        with ThreadPoolExecutor(PUSHERS) as pool:
            digests = list(pool.map(push, range(PUSHERS)))
    finally:
        backends.stop()
    assert backends.error is None, backends.error
    assert backends.samples > 0
    assert backends.peak <= POOL + OVERFLOW, backends.peak
    # every push is in the index, with its tag
    for n, digest in enumerate(digests):
        response = server.api(
            "GET", f"/projects/{PROJECT}/repositories/pusher-{n}/artifacts/v1", auth=server.admin
        )
        assert response.status_code == 200, response.text
        assert response.json()["digest"] == digest


def test_the_pool_sizes_come_from_the_database_url() -> None:
    url, sizes = pool_of("postgresql+asyncpg://u:secret@db:5432/h?pool_size=4&max_overflow=0")
    assert url == "postgresql+asyncpg://u:secret@db:5432/h"  # the driver never sees them
    assert sizes == {"pool_size": 4, "max_overflow": 0, "pool_timeout": 30}
    _, defaults = pool_of("postgresql+asyncpg://u@db/h?ssl=disable")
    assert (defaults["pool_size"], defaults["max_overflow"]) == (POOL_SIZE, MAX_OVERFLOW)


@pytest.mark.parametrize("query", ["pool_size=0", "pool_size=-1", "max_overflow=many"])
def test_a_pool_size_that_is_not_a_count_is_refused(query: str) -> None:
    with pytest.raises(ValueError, match="must be a whole number"):
        pool_of(f"postgresql+asyncpg://u@db/h?{query}")
