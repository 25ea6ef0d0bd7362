"""The shared level in a real Redis: what one replica learnt, another serves, and never
a stale or tampered answer."""

from __future__ import annotations

from harborlite.cache.invalidation import ManifestCacheSync
from harborlite.cache.manifests import ManifestCache
from harborlite.oci.mediatypes import OCI_MANIFEST
from tests.cache.replicas import ACCEPT, BODY, DIGEST, HEADERS, replicas
from tests.support.processes import RedisServer


async def test_what_one_replica_learnt_is_served_by_another(empty_redis: RedisServer) -> None:
    server = empty_redis
    async with replicas(server.url, 2) as [(first, one), (second, two)]:
        looked = await one.shared.lookup("p/r", "latest")
        assert looked is not None and looked.learnt is None  # nothing shared yet
        learnt = first.learn("p/r", "latest", first.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert learnt is not None and learnt.tag == "latest" and learnt.entry is not None
        await one.shared.learnt("p/r", looked.generation, learnt)

        for reference in ("latest", DIGEST):
            shared = await two.shared.lookup("p/r", reference)
            assert shared is not None and shared.learnt is not None
            assert shared.learnt.digest == DIGEST
            entry = shared.learnt.entry
            assert entry is not None
            assert entry.body == BODY and entry.media_type == OCI_MANIFEST
            assert (b"docker-content-digest", DIGEST.encode()) in entry.headers
        # once adopted, the second replica answers from its own memory
        assert second.lookup("p/r", "latest", ACCEPT) is None
        by_tag = await two.shared.lookup("p/r", "latest")
        assert by_tag is not None and by_tag.learnt is not None
        second.adopt("p/r", second.generation("p/r"), by_tag.learnt)
        found = second.lookup("p/r", "latest", ACCEPT)
        assert found is not None and found.body == BODY
        # another repository never sees it: entries are kept per repository
        other = await two.shared.lookup("q/r", DIGEST)
        assert other is not None and other.learnt is None


async def test_a_lost_generation_key_never_revives_old_tag_answers(
    empty_redis: RedisServer,
) -> None:
    """If Redis drops a generation key (eviction, FLUSH of one key), the next generation is
    taken from the clock: tag answers learnt under the old one stay unreachable."""
    import redis.asyncio as redis

    server = empty_redis
    client = redis.Redis.from_url(server.url)
    async with replicas(server.url, 1) as [(cache, sync)]:
        looked = await sync.shared.lookup("p/r", "latest")
        assert looked is not None and looked.generation != "0"
        learnt = cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert learnt is not None
        await sync.shared.learnt("p/r", looked.generation, learnt)
        shared = await sync.shared.lookup("p/r", "latest")
        assert shared is not None and shared.learnt is not None
        await client.delete("hl:mc:p/r|g")
        again = await sync.shared.lookup("p/r", "latest")
        assert again is not None and again.learnt is None
        assert int(again.generation) > int(looked.generation)
    await client.aclose()


async def test_an_answer_that_raced_a_write_is_not_shared(empty_redis: RedisServer) -> None:
    server = empty_redis
    async with replicas(server.url, 2) as [(reader, slow), (_, fast)]:
        looked = await slow.shared.lookup("p/r", "latest")  # read before asking the registry
        assert looked is not None
        # meanwhile another replica deletes the tag
        await fast.published("DELETE", "p/r", "latest", 202, None)
        learnt = reader.learn("p/r", "latest", reader.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert learnt is not None
        await slow.shared.learnt("p/r", looked.generation, learnt)  # the stale answer
        shared = await fast.shared.lookup("p/r", "latest")
        assert shared is not None and shared.learnt is None
        by_digest = await fast.shared.lookup("p/r", DIGEST)
        assert by_digest is not None and by_digest.learnt is None


async def test_a_tampered_shared_manifest_is_not_served(empty_redis: RedisServer) -> None:
    import redis.asyncio as redis

    server = empty_redis
    cache = ManifestCache()
    sync = ManifestCacheSync(server.url, cache)
    await sync.start()
    client = redis.Redis.from_url(server.url)
    try:
        looked = await sync.shared.lookup("p/r", DIGEST)
        assert looked is not None
        learnt = cache.learn("p/r", DIGEST, cache.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert learnt is not None
        await sync.shared.learnt("p/r", looked.generation, learnt)
        keys = [k async for k in client.scan_iter("hl:mc:p/r|m|*")]
        assert len(keys) == 1
        value = await client.get(keys[0])
        await client.set(keys[0], value.replace(b"schemaVersion", b"schemaVersioN"))
        shared = await sync.shared.lookup("p/r", DIGEST)
        assert shared is not None and shared.learnt is None
        await client.set(keys[0], b"not a manifest")
        shared = await sync.shared.lookup("p/r", DIGEST)
        assert shared is not None and shared.learnt is None
    finally:
        await client.aclose()
        await sync.stop()


async def test_when_redis_stops_answering_lookups_give_up_quickly(empty_redis: RedisServer) -> None:
    import os
    import signal
    import time

    server = empty_redis
    cache = ManifestCache()
    sync = ManifestCacheSync(server.url, cache, command_timeout=0.3)
    await sync.start()
    try:
        assert await sync.shared.lookup("p/r", "latest") is not None
        os.kill(server.process.pid, signal.SIGSTOP)
        try:
            started = time.monotonic()
            assert await sync.shared.lookup("p/r", "latest") is None
            assert time.monotonic() - started < 3
        finally:
            os.kill(server.process.pid, signal.SIGCONT)
    finally:
        await sync.stop()
