"""Pushes on PostgreSQL stay within harborlite's connection pool: more concurrent pushers than
the pool has connections all succeed (a burst waits for a connection, it does not fail), and
PostgreSQL never sees more of harborlite's connections than the pool allows.

Every client backend of harborlite's database is counted, by its application_name
(:data:`harborlite.db.engine.APPLICATION_NAME`), while the pushes and a collection run by
the job runner share the pool; PostgreSQL's own workers on the database (autovacuum) are not
harborlite's connections.

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

from harborlite.db.engine import APPLICATION_NAME, MAX_OVERFLOW, POOL_SIZE, pool_of
from tests.api.pushing import Pusher
from tests.harness import Harborlite, own_harborlite
from tests.support.polling import eventually
from tests.support.processes import PostgresServer

POOL, OVERFLOW = 2, 1
PUSHERS = 12
PROJECT = "poolbound"
SHARED_LAYER = b"a layer every pusher pushes into the same project" * 64


class Backends(threading.Thread):
    """The backends PostgreSQL had open for ``database``, sampled until stopped: the most of
    harborlite's at once (its client backends, named :data:`APPLICATION_NAME`), and every other
    client backend seen (the sampler's own connection is to another database). PostgreSQL's
    own workers (autovacuum) are not harborlite's connections and are not counted: counting
    every backend of the database took an autovacuum ANALYZE for a 31st connection of a pool
    of 30 in the bench."""

    def __init__(self, port: int, database: str) -> None:
        super().__init__(daemon=True)
        self.port, self.database = port, database
        self.peak = self.samples = 0
        self.strangers: set[str] = set()  # client backends not named harborlite's
        self.error: BaseException | None = None
        self._done = threading.Event()

    async def _sample(self) -> None:
        import asyncpg

        conn = await asyncpg.connect(host="127.0.0.1", port=self.port, user="postgres")
        try:
            while not self._done.is_set():
                rows = await conn.fetch(
                    "SELECT application_name, left(query, 60) AS query FROM pg_stat_activity "
                    "WHERE datname = $1 AND backend_type = 'client backend'",
                    self.database,
                )
                ours = [row for row in rows if row["application_name"] == APPLICATION_NAME]
                self.strangers.update(
                    f"{row['application_name']!r}: {row['query']}"
                    for row in rows
                    if row["application_name"] != APPLICATION_NAME
                )
                self.peak = max(self.peak, len(ours))
                self.samples += 1
                await asyncio.sleep(0.005)
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
            pushes = pool.map(push, range(PUSHERS))
            # a background path beside the pushes: a collection (a dry run: the pushes' blobs
            # stay) claimed, run, logged and heartbeaten by the job runner on the same pool
            collection = collect(server)
            digests = list(pushes)
        eventually(lambda: collected(server, collection), "the collection's success", 60)
    finally:
        backends.stop()
    assert backends.error is None, backends.error
    assert backends.samples > 0
    # every connection to the database is one of harborlite's pool, named so
    assert not backends.strangers, backends.strangers
    assert 0 < backends.peak <= POOL + OVERFLOW, backends.peak
    # every push is in the index, with its tag
    for n, digest in enumerate(digests):
        response = server.api(
            "GET", f"/projects/{PROJECT}/repositories/pusher-{n}/artifacts/v1", auth=server.admin
        )
        assert response.status_code == 200, response.text
        assert response.json()["digest"] == digest


def collect(server: Harborlite) -> str:
    asked = server.api(
        "POST",
        "/system/gc/schedule",
        auth=server.admin,
        json={"schedule": {"type": "Manual"}, "parameters": {"dry_run": True}},
    )
    assert asked.status_code == 201, asked.text
    return str(asked.headers["Location"].rsplit("/", 1)[1])


def collected(server: Harborlite, execution: str) -> bool:
    shown = server.api("GET", f"/system/gc/{execution}", auth=server.admin).json()
    assert shown["job_status"] not in ("Error", "Stopped"), shown
    return bool(shown["job_status"] == "Success")


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
