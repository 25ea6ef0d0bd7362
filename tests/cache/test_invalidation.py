"""Invalidation across replicas through a real Redis: writes published and applied,
heartbeats, and the cache off while the subscription is not guaranteed."""

from __future__ import annotations

import asyncio

from harborlite.cache.invalidation import ManifestCacheSync
from harborlite.cache.manifests import ManifestCache
from tests.cache.replicas import ACCEPT, BODY, DIGEST, HEADERS, eventually, filled, replicas
from tests.support.processes import RedisServer


async def test_a_delete_on_one_replica_empties_the_others(empty_redis: RedisServer) -> None:
    server = empty_redis
    async with replicas(server.url, 2) as [(first, one), (second, _)]:
        for cache in (first, second):
            cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
            assert cache.lookup("p/r", "latest", ACCEPT) is not None
        first.registry_wrote("DELETE", "p/r", DIGEST, 202, None)
        await one.published("DELETE", "p/r", DIGEST, 202, None)
        assert await eventually(lambda: second.lookup("p/r", DIGEST, ACCEPT) is None)
        assert second.lookup("p/r", "latest", ACCEPT) is None
        # a tag moved elsewhere is seen too
        second.learn("p/r", "latest", second.generation("p/r"), ACCEPT, HEADERS, BODY)
        await one.published("PUT", "p/r", "latest", 201, "sha256:" + "2" * 64)
        assert await eventually(lambda: second.lookup("p/r", "latest", ACCEPT) is None)


async def test_without_redis_the_cache_stays_off() -> None:
    cache = filled()
    sync = ManifestCacheSync("redis://127.0.0.1:1/0", cache, retry_seconds=0.1)
    await sync.start(wait=0.3)
    try:
        assert not cache.enabled
        cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert cache.lookup("p/r", "latest", ACCEPT) is None
    finally:
        await sync.stop()


async def test_writes_retire_shared_answers(empty_redis: RedisServer) -> None:
    server = empty_redis
    async with replicas(server.url, 1) as [(cache, sync)]:
        looked = await sync.shared.lookup("p/r", "latest")
        assert looked is not None
        learnt = cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert learnt is not None
        await sync.shared.learnt("p/r", looked.generation, learnt)
        # the tag is pushed again elsewhere: the shared level forgets what it named (the
        # next registry answer says what it names now; writes may be heard out of order)
        moved = "sha256:" + "3" * 64
        await sync.published("PUT", "p/r", "latest", 201, moved)
        now = await sync.shared.lookup("p/r", "latest")
        assert now is not None and now.learnt is None
        assert now.generation != looked.generation
        kept = await sync.shared.lookup("p/r", DIGEST)  # the manifest itself is still true
        assert kept is not None and kept.learnt is not None
        # the manifest is deleted: gone from the shared level
        await sync.published("DELETE", "p/r", DIGEST, 202, None)
        gone = await sync.shared.lookup("p/r", DIGEST)
        assert gone is not None and gone.learnt is None
        # a failed write changes nothing
        before = await sync.shared.lookup("p/r", "latest")
        await sync.published("PUT", "p/r", "latest", 400, None)
        after = await sync.shared.lookup("p/r", "latest")
        assert before == after


class FreezableProxy:
    """A TCP relay to Redis that can go silent without closing anything: what a dead NAT entry
    or a half-broken network looks like to a client."""

    def __init__(self, target_port: int, only_subscriptions: bool = False) -> None:
        self.target_port = target_port
        self.only_subscriptions = only_subscriptions  # freeze SUBSCRIBE connections only
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.port = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        upstream_reader, upstream_writer = await asyncio.open_connection(
            "127.0.0.1", self.target_port
        )

        subscriber = False

        async def pipe(
            source: asyncio.StreamReader, sink: asyncio.StreamWriter, from_client: bool
        ) -> None:
            nonlocal subscriber
            while data := await source.read(65536):
                if from_client and b"SUBSCRIBE" in data.upper():
                    subscriber = True
                if subscriber or not self.only_subscriptions:
                    await self.flowing.wait()
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(
            pipe(reader, upstream_writer, True),
            pipe(upstream_reader, writer, False),
            return_exceptions=True,
        )

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()


async def test_a_silent_connection_turns_the_cache_off_and_writes_are_replayed(
    empty_redis: RedisServer,
) -> None:
    """Replica B's network to Redis goes silent (no error, no close). B notices by its own
    heartbeat and stops serving from its cache; a manifest write B made meanwhile reaches the
    others once Redis answers again."""
    server = empty_redis
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    proxy = FreezableProxy(port)
    await proxy.start()
    first = ManifestCache()
    a = ManifestCacheSync(server.url, first, heartbeat_seconds=0.2)
    second = ManifestCache()
    b = ManifestCacheSync(
        proxy.url, second, retry_seconds=0.1, command_timeout=0.3, heartbeat_seconds=0.2
    )
    await a.start()
    await b.start()
    try:
        assert second.enabled
        first.learn("p/r", "latest", first.generation("p/r"), ACCEPT, HEADERS, BODY)
        second.learn("p/r", "latest", second.generation("p/r"), ACCEPT, HEADERS, BODY)
        proxy.flowing.clear()
        assert await eventually(lambda: not second.enabled, seconds=5)
        assert second.lookup("p/r", "latest", ACCEPT) is None
        # B deletes the manifest while Redis cannot hear it
        second.registry_wrote("DELETE", "p/r", DIGEST, 202, None)
        await b.published("DELETE", "p/r", DIGEST, 202, None)
        assert first.lookup("p/r", "latest", ACCEPT) is not None  # A has not heard yet
        proxy.flowing.set()
        assert await eventually(lambda: first.lookup("p/r", DIGEST, ACCEPT) is None)
        assert first.lookup("p/r", "latest", ACCEPT) is None
        assert await eventually(lambda: second.enabled, seconds=5)
    finally:
        proxy.flowing.set()  # a failed assertion must not leave the stop waiting on it
        await a.stop()
        await b.stop()
        await proxy.stop()


async def test_a_subscription_gone_silent_alone_is_noticed(empty_redis: RedisServer) -> None:
    """Only the subscription goes silent; commands still work. The heartbeat published over
    the command connection never comes back, and that alone turns the cache off."""
    server = empty_redis
    port = int(server.url.rsplit(":", 1)[1].split("/")[0])
    proxy = FreezableProxy(port, only_subscriptions=True)
    await proxy.start()
    cache = ManifestCache()
    sync = ManifestCacheSync(proxy.url, cache, retry_seconds=0.1, heartbeat_seconds=0.2)
    await sync.start()
    try:
        assert cache.enabled
        await asyncio.sleep(1.0)
        assert cache.enabled  # beats come back while everything flows
        proxy.flowing.clear()
        assert await eventually(lambda: not cache.enabled, seconds=5)
        assert await sync.shared.lookup("p/r", "latest") is None  # commands are not even tried
        proxy.flowing.set()
        assert await eventually(lambda: cache.enabled, seconds=5)
    finally:
        proxy.flowing.set()  # a failed assertion must not leave the stop waiting on it
        await sync.stop()
        await proxy.stop()
