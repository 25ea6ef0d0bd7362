"""One real Redis per test module, emptied before each test that asks for it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import redis

from tests.support.processes import RedisServer


@pytest.fixture(scope="module")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    with RedisServer(tmp_path_factory.mktemp("redis")) as server:
        yield server


@pytest.fixture
def empty_redis(redis_server: RedisServer) -> RedisServer:
    """The module's Redis with no keys (FLUSHALL): each test starts from nothing."""
    with redis.Redis.from_url(redis_server.url) as client:
        client.flushall()
    return redis_server
