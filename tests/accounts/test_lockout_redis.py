"""The login lockout shared by replicas: two Lockout objects (two replicas) on one real Redis
count one account's and one address's failures together, whatever the parallelism; a Redis
that stops answering leaves each replica counting on its own."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncIterator, Iterator

import pytest
import redis.asyncio as aioredis

from harborlite.accounts.lockout import REDIS_PREFIX, Lockout
from harborlite.errors import LockedOut
from tests.support.processes import RedisServer, free_port

HERE = "192.0.2.10"


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
async def clients(
    redis_server: RedisServer, caplog: pytest.LogCaptureFixture
) -> AsyncIterator[list[aioredis.Redis]]:
    """Two replicas' connections to one empty Redis; the test fails if a script failed and
    the counting fell back to this process (it would pass for the wrong reason)."""
    made = [aioredis.Redis.from_url(redis_server.url) for _ in range(2)]
    await made[0].flushall()
    try:
        with caplog.at_level(logging.WARNING, "harborlite.accounts"):
            yield made
        assert "counted in this process only" not in caplog.text
    finally:
        for client in made:
            await client.aclose()


async def _guess(lockout: Lockout, name: str, address: str = HERE) -> str:
    """One wrong attempt as login() makes it: reserve, a slow hash, count the failure."""
    try:
        await lockout.reserve(name, address)
    except LockedOut:
        return "locked"
    await asyncio.sleep(0.05)  # the hash
    await lockout.failed(name, address)
    return "refused"


async def test_two_replicas_share_one_account_count(clients: list[aioredis.Redis]) -> None:
    first, second = (Lockout(5, 300, 20, redis=client) for client in clients)
    # 40 parallel guessers spread over both replicas: five guesses, no more
    results = await asyncio.gather(
        *(_guess(first if n % 2 else second, "victim") for n in range(40))
    )
    assert results.count("refused") == 5 and results.count("locked") == 35
    for replica in (first, second):
        retry = await replica.locked("victim", "198.51.100.1")  # any address: the account
        assert retry is not None and 298 <= retry <= 300
        with pytest.raises(LockedOut) as raised:
            await replica.reserve("victim", HERE)
        assert 298 <= raised.value.retry_after <= 300
        assert await replica.admitted("victim", HERE) is not None  # the right password too
    assert await first.locked("someone-else", "198.51.100.1") is None


async def test_the_failure_that_locks_is_reported_once(clients: list[aioredis.Redis]) -> None:
    first, second = (Lockout(3, 300, 20, redis=client) for client in clients)
    locks = []
    for replica in (first, second, first):
        await replica.reserve("once", HERE)
        locks += await replica.failed("once", HERE)
    assert [(lock.address, lock.failures, lock.seconds) for lock in locks] == [(None, 3, 300)]


async def test_spraying_across_replicas_locks_the_address(clients: list[aioredis.Redis]) -> None:
    first, second = (Lockout(5, 300, 6, redis=client) for client in clients)
    results = [await _guess(first if n % 2 else second, f"user{n}") for n in range(8)]
    assert results == ["refused"] * 6 + ["locked"] * 2
    assert await second.locked("user0", HERE) is not None
    assert await second.locked("user0", "192.0.2.11") is None


async def test_a_success_forgives_across_replicas(clients: list[aioredis.Redis]) -> None:
    first, second = (Lockout(3, 300, 20, redis=client) for client in clients)
    await _guess(first, "typist")
    await _guess(first, "typist")
    await second.reserve("typist", HERE)
    await second.succeeded("typist", HERE)  # the right password: its own two forgiven
    await _guess(first, "typist")
    await _guess(second, "typist")
    assert await first.locked("typist", HERE) is None
    await _guess(second, "typist")
    assert await first.locked("typist", HERE) is not None


async def test_counts_expire_with_the_window(clients: list[aioredis.Redis]) -> None:
    first, second = (Lockout(2, 1, 20, redis=client) for client in clients)
    await _guess(first, "brief")
    await _guess(second, "brief")
    assert await second.locked("brief", HERE) == 1
    await asyncio.sleep(1.2)
    assert await first.locked("brief", HERE) is None
    await first.reserve("brief", HERE)
    await first.succeeded("brief", HERE)
    keys = [key async for key in clients[0].scan_iter(REDIS_PREFIX + "*")]
    assert keys == []  # nothing left behind: every key expires or is deleted


async def test_no_password_or_name_is_stored_in_redis(clients: list[aioredis.Redis]) -> None:
    lockout = Lockout(5, 300, 20, redis=clients[0])
    await _guess(lockout, "S3cret-typed-as-name")
    keys = [key.decode() async for key in clients[0].scan_iter(REDIS_PREFIX + "*")]
    assert len(keys) == 3 and not any("S3cret" in key for key in keys)


async def test_a_redis_that_does_not_answer_leaves_local_counts(
    caplog: pytest.LogCaptureFixture,
) -> None:
    gone = aioredis.Redis.from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5)
    try:
        lockout = Lockout(2, 300, 20, redis=gone)
        with caplog.at_level(logging.WARNING, "harborlite.accounts"):
            assert [await _guess(lockout, "local") for _ in range(3)] == [
                "refused",
                "refused",
                "locked",
            ]
        assert caplog.text.count("counted in this process only") == 1
    finally:
        await gone.aclose()
