"""Manifest cache invalidation across replicas through a real Redis."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

from harborlite.cache.manifests import ManifestCache
from harborlite.cache.shared import ManifestCacheSync
from harborlite.oci.mediatypes import OCI_INDEX, OCI_MANIFEST
from tests.support.processes import RedisServer

BODY = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
DIGEST = "sha256:" + hashlib.sha256(BODY).hexdigest()
ACCEPT = frozenset(
    {OCI_MANIFEST, OCI_INDEX, "application/vnd.docker.distribution.manifest.list.v2+json"}
)
HEADERS = [
    (b"Content-Type", OCI_MANIFEST.encode()),
    (b"Content-Length", str(len(BODY)).encode()),
    (b"Docker-Content-Digest", DIGEST.encode()),
]


def filled() -> ManifestCache:
    cache = ManifestCache()
    cache.learn("p/r", "latest", 0, ACCEPT, HEADERS, BODY)
    assert cache.lookup("p/r", "latest", ACCEPT) is not None
    return cache


Replica = tuple[ManifestCache, ManifestCacheSync]


@contextlib.asynccontextmanager
async def replicas(
    url: str, count: int
) -> AsyncIterator[list[tuple[ManifestCache, ManifestCacheSync]]]:
    """``count`` replicas' caches, each with its own connection to the Redis at ``url``."""
    started = []
    try:
        for _ in range(count):
            cache = ManifestCache()
            sync = ManifestCacheSync(url, cache)
            await sync.start()
            started.append((cache, sync))
        yield started
    finally:
        for _, sync in started:
            await sync.stop()


async def eventually(check: object, seconds: float = 5.0) -> bool:
    for _ in range(int(seconds / 0.02)):
        if callable(check) and check():
            return True
        await asyncio.sleep(0.02)
    return False


async def test_a_delete_on_one_replica_empties_the_others(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
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


async def test_without_redis_the_cache_stays_off(tmp_path: Path) -> None:
    cache = filled()
    sync = ManifestCacheSync("redis://127.0.0.1:1/0", cache, retry_seconds=0.1)
    await sync.start(wait=0.3)
    try:
        assert not cache.enabled
        cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
        assert cache.lookup("p/r", "latest", ACCEPT) is None
    finally:
        await sync.stop()


def test_harborlite_with_redis_serves_from_its_cache(tmp_path: Path) -> None:
    import httpx

    from tests.harness import cleanup, start_harborlite
    from tests.support.clients import skopeo_copy
    from tests.support.images import build_oci_layout

    with RedisServer(tmp_path / "redis") as redis_server:
        server = start_harborlite(extra_env={"HARBORLITE_REDIS_URL": redis_server.url})
        try:
            server.create_project("synced")
            image = build_oci_layout(tmp_path / "layout", "v1", [1024], seed=7)
            skopeo_copy(
                f"oci:{tmp_path / 'layout'}:v1",
                f"docker://{server.host}/synced/app:v1",
                creds=server.admin,
            )
            token = server.token("repository:synced/app:pull", server.admin)
            headers = {"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST}
            for _ in range(3):
                answer = httpx.get(
                    f"{server.url}/v2/synced/app/manifests/v1", headers=headers, timeout=30
                )
                assert answer.status_code == 200
                assert answer.headers["docker-content-digest"] == image.manifest_digest
            assert "via=cache" in server.log()
        finally:
            cleanup(server)


# ---------------------------------------------------------------------- the shared level


async def test_what_one_replica_learnt_is_served_by_another(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        async with replicas(server.url, 2) as [(first, one), (second, two)]:
            looked = await one.lookup("p/r", "latest")
            assert looked is not None and looked.learnt is None  # nothing shared yet
            learnt = first.learn("p/r", "latest", first.generation("p/r"), ACCEPT, HEADERS, BODY)
            assert learnt is not None and learnt.tag == "latest" and learnt.entry is not None
            await one.learnt("p/r", looked.generation, learnt)

            for reference in ("latest", DIGEST):
                shared = await two.lookup("p/r", reference)
                assert shared is not None and shared.learnt is not None
                assert shared.learnt.digest == DIGEST
                entry = shared.learnt.entry
                assert entry is not None
                assert entry.body == BODY and entry.media_type == OCI_MANIFEST
                assert (b"docker-content-digest", DIGEST.encode()) in entry.headers
            # once adopted, the second replica answers from its own memory
            assert second.lookup("p/r", "latest", ACCEPT) is None
            by_tag = await two.lookup("p/r", "latest")
            assert by_tag is not None and by_tag.learnt is not None
            second.adopt("p/r", second.generation("p/r"), by_tag.learnt)
            found = second.lookup("p/r", "latest", ACCEPT)
            assert found is not None and found.body == BODY
            # another repository never sees it: entries are kept per repository
            other = await two.lookup("q/r", DIGEST)
            assert other is not None and other.learnt is None


async def test_writes_retire_shared_answers(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        async with replicas(server.url, 1) as [(cache, sync)]:
            looked = await sync.lookup("p/r", "latest")
            assert looked is not None
            learnt = cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
            assert learnt is not None
            await sync.learnt("p/r", looked.generation, learnt)
            # the tag is pushed again elsewhere: the shared level forgets what it named (the
            # next registry answer says what it names now; writes may be heard out of order)
            moved = "sha256:" + "3" * 64
            await sync.published("PUT", "p/r", "latest", 201, moved)
            now = await sync.lookup("p/r", "latest")
            assert now is not None and now.learnt is None
            assert now.generation != looked.generation
            kept = await sync.lookup("p/r", DIGEST)  # the manifest itself is still true
            assert kept is not None and kept.learnt is not None
            # the manifest is deleted: gone from the shared level
            await sync.published("DELETE", "p/r", DIGEST, 202, None)
            gone = await sync.lookup("p/r", DIGEST)
            assert gone is not None and gone.learnt is None
            # a failed write changes nothing
            before = await sync.lookup("p/r", "latest")
            await sync.published("PUT", "p/r", "latest", 400, None)
            after = await sync.lookup("p/r", "latest")
            assert before == after


async def test_a_lost_generation_key_never_revives_old_tag_answers(tmp_path: Path) -> None:
    """If Redis drops a generation key (eviction, FLUSH of one key), the next generation is
    taken from the clock: tag answers learnt under the old one stay unreachable."""
    import redis.asyncio as redis

    with RedisServer(tmp_path / "redis") as server:
        client = redis.Redis.from_url(server.url)
        async with replicas(server.url, 1) as [(cache, sync)]:
            looked = await sync.lookup("p/r", "latest")
            assert looked is not None and looked.generation != "0"
            learnt = cache.learn("p/r", "latest", cache.generation("p/r"), ACCEPT, HEADERS, BODY)
            assert learnt is not None
            await sync.learnt("p/r", looked.generation, learnt)
            shared = await sync.lookup("p/r", "latest")
            assert shared is not None and shared.learnt is not None
            await client.delete("hl:mc:p/r|g")
            again = await sync.lookup("p/r", "latest")
            assert again is not None and again.learnt is None
            assert int(again.generation) > int(looked.generation)
        await client.aclose()


async def test_an_answer_that_raced_a_write_is_not_shared(tmp_path: Path) -> None:
    with RedisServer(tmp_path / "redis") as server:
        async with replicas(server.url, 2) as [(reader, slow), (_, fast)]:
            looked = await slow.lookup("p/r", "latest")  # read before asking the registry
            assert looked is not None
            # meanwhile another replica deletes the tag
            await fast.published("DELETE", "p/r", "latest", 202, None)
            learnt = reader.learn("p/r", "latest", reader.generation("p/r"), ACCEPT, HEADERS, BODY)
            assert learnt is not None
            await slow.learnt("p/r", looked.generation, learnt)  # the stale answer
            shared = await fast.lookup("p/r", "latest")
            assert shared is not None and shared.learnt is None
            by_digest = await fast.lookup("p/r", DIGEST)
            assert by_digest is not None and by_digest.learnt is None


async def test_a_tampered_shared_manifest_is_not_served(tmp_path: Path) -> None:
    import redis.asyncio as redis

    with RedisServer(tmp_path / "redis") as server:
        cache = ManifestCache()
        sync = ManifestCacheSync(server.url, cache)
        await sync.start()
        client = redis.Redis.from_url(server.url)
        try:
            looked = await sync.lookup("p/r", DIGEST)
            assert looked is not None
            learnt = cache.learn("p/r", DIGEST, cache.generation("p/r"), ACCEPT, HEADERS, BODY)
            assert learnt is not None
            await sync.learnt("p/r", looked.generation, learnt)
            keys = [k async for k in client.scan_iter("hl:mc:p/r|m|*")]
            assert len(keys) == 1
            value = await client.get(keys[0])
            await client.set(keys[0], value.replace(b"schemaVersion", b"schemaVersioN"))
            shared = await sync.lookup("p/r", DIGEST)
            assert shared is not None and shared.learnt is None
            await client.set(keys[0], b"not a manifest")
            shared = await sync.lookup("p/r", DIGEST)
            assert shared is not None and shared.learnt is None
        finally:
            await client.aclose()
            await sync.stop()


async def test_when_redis_stops_answering_lookups_give_up_quickly(tmp_path: Path) -> None:
    import os
    import signal
    import time

    with RedisServer(tmp_path / "redis") as server:
        cache = ManifestCache()
        sync = ManifestCacheSync(server.url, cache, command_timeout=0.3)
        await sync.start()
        try:
            assert await sync.lookup("p/r", "latest") is not None
            os.kill(server.process.pid, signal.SIGSTOP)
            try:
                started = time.monotonic()
                assert await sync.lookup("p/r", "latest") is None
                assert time.monotonic() - started < 3
            finally:
                os.kill(server.process.pid, signal.SIGCONT)
        finally:
            await sync.stop()


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
    tmp_path: Path,
) -> None:
    """Replica B's network to Redis goes silent (no error, no close). B notices by its own
    heartbeat and stops serving from its cache; a manifest write B made meanwhile reaches the
    others once Redis answers again."""
    with RedisServer(tmp_path / "redis") as server:
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
            await a.stop()
            await b.stop()
            await proxy.stop()


async def test_a_subscription_gone_silent_alone_is_noticed(tmp_path: Path) -> None:
    """Only the subscription goes silent; commands still work. The heartbeat published over
    the command connection never comes back, and that alone turns the cache off."""
    with RedisServer(tmp_path / "redis") as server:
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
            assert await sync.lookup("p/r", "latest") is None  # commands are not even tried
            proxy.flowing.set()
            assert await eventually(lambda: cache.enabled, seconds=5)
        finally:
            await sync.stop()
            await proxy.stop()


def test_two_replicas_share_manifests_through_redis(tmp_path: Path, postgres: object) -> None:
    """Replica A learns a manifest from the registry; replica B, sharing the database, the
    registry and Redis, answers it with the registry frozen (SIGSTOP): from Redis. A push
    through A then moves the tag for B at once."""
    import os
    import shutil
    import signal

    import httpx
    import yaml

    from tests.harness import cleanup, start_harborlite
    from tests.support.clients import skopeo_copy
    from tests.support.images import build_oci_layout
    from tests.support.processes import PostgresServer

    assert isinstance(postgres, PostgresServer)
    with RedisServer(tmp_path / "redis") as redis_server:
        database = postgres.create_database("replicas")
        env = {"HARBORLITE_REDIS_URL": redis_server.url}
        first = start_harborlite(database, env)
        second = None
        try:
            config = yaml.safe_load((first.data_dir / "registry.yml").read_text())
            registry_url = f"http://{config['http']['addr']}"
            second_dir = tmp_path / "second"
            second_dir.mkdir()
            for name in ("token.key", "token.crt"):  # the key the registry trusts
                shutil.copy2(first.data_dir / name, second_dir / name)
            second = start_harborlite(
                database, {**env, "HARBORLITE_REGISTRY_URL": registry_url}, data_dir=second_dir
            )
            first.create_project("shared")
            layout = tmp_path / "layout"
            image = build_oci_layout(layout, "v1", [2048], seed=11)
            skopeo_copy(
                f"oci:{layout}:v1", f"docker://{first.host}/shared/app:v1", creds=first.admin
            )
            token = first.token("repository:shared/app:pull", first.admin)
            headers = {"Authorization": f"Bearer {token}", "Accept": OCI_MANIFEST}
            learnt = httpx.get(f"{first.url}/v2/shared/app/manifests/v1", headers=headers)
            assert learnt.status_code == 200

            line = next(x for x in first.log().splitlines() if "registry started (pid" in x)
            registry_pid = int(line.rsplit("registry started (pid ", 1)[1].split(")")[0])
            os.kill(registry_pid, signal.SIGSTOP)
            try:
                for reference in ("v1", image.manifest_digest):
                    answer = httpx.get(
                        f"{second.url}/v2/shared/app/manifests/{reference}",
                        headers=headers,
                        timeout=10,
                    )
                    assert answer.status_code == 200
                    assert answer.content == learnt.content
                    assert answer.headers["docker-content-digest"] == image.manifest_digest
                    assert answer.headers["content-type"] == OCI_MANIFEST
            finally:
                os.kill(registry_pid, signal.SIGCONT)
            assert "/v2/shared/app/manifests/v1 200" in second.log()
            assert "via=redis" in second.log()

            # the tag moves through the first replica: the second names the new digest at once
            moved = build_oci_layout(layout, "v1", [4096], seed=12)
            skopeo_copy(
                f"oci:{layout}:v1", f"docker://{first.host}/shared/app:v1", creds=first.admin
            )
            after = httpx.get(
                f"{second.url}/v2/shared/app/manifests/v1", headers=headers, timeout=10
            )
            assert after.status_code == 200
            assert after.headers["docker-content-digest"] == moved.manifest_digest
        finally:
            if second is not None:
                cleanup(second)
            cleanup(first)
